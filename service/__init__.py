"""mnist-serve, the prediction service: HTTP layer (api/), codecs (codecs/), served models (models/).

It stands on the network core (`neuralnet`) and never imports `training`."""
