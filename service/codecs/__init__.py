"""Codecs: request bodies (/v1 JSON, v2 inference requests, image files) to validated 0-255 pixels,
and v2 answers back to bytes; one folder per protocol, `pixels` shared by all."""
