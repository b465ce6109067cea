"""mnist-serve prediction service. Kept import-light: `service.artifact` is shared with `training`."""
