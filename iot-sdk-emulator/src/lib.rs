//! A local IoTDA platform for examples and tests.
