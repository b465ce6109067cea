"""The routers, one module per group of endpoints; each hands bodies to a codec and pixels to the model."""
