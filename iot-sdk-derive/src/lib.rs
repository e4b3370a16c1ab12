//! Procedural macros for iot-sdk (profile-oriented services).
