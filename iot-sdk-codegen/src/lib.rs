//! Code generation from IoTDA product models.
