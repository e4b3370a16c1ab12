//! The MQTT transport over paho-mqtt.
