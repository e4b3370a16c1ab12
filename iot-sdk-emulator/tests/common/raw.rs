//! A device speaking raw MQTT 3.1.1 through rumqttc's codec: for what paho
//! hides (SUBACK return codes) or never sends (hostile packets).

use std::net::SocketAddr;

use futures::{SinkExt, StreamExt};
use rumqttc::mqttbytes::QoS;
use rumqttc::mqttbytes::v4::{
    Codec, ConnAck, Connect, ConnectReturnCode, Login, Packet, Subscribe, SubscribeFilter,
    SubscribeReasonCode,
};
use tokio::net::TcpStream;
use tokio_util::codec::Framed;

use super::{PATIENCE, credentials};

pub struct RawDevice {
    pub framed: Framed<TcpStream, Codec>,
}

impl RawDevice {
    /// Connects and sends a CONNECT with `device_id`'s right credentials,
    /// or with `password` instead; returns the CONNACK.
    pub async fn try_connect(
        addr: SocketAddr,
        device_id: &str,
        password: Option<&str>,
    ) -> (RawDevice, ConnAck) {
        let tcp = TcpStream::connect(addr).await.unwrap();
        let codec = Codec {
            max_incoming_size: 4 * 1024 * 1024,
            max_outgoing_size: 4 * 1024 * 1024,
        };
        let mut device = RawDevice {
            framed: Framed::new(tcp, codec),
        };
        let credentials = credentials(device_id);
        let mut connect = Connect::new(credentials.client_id.clone());
        connect.keep_alive = 120;
        let right = credentials.password.clone().unwrap_or_default();
        connect.login = Some(Login::new(
            credentials.username.clone(),
            password.unwrap_or(&right),
        ));
        device.send(Packet::Connect(connect)).await;
        match device.recv().await {
            Some(Packet::ConnAck(connack)) => (device, connack),
            other => panic!("expected a CONNACK, got {other:?}"),
        }
    }

    /// Logs in with the right secret.
    pub async fn connect(addr: SocketAddr, device_id: &str) -> RawDevice {
        let (device, connack) = RawDevice::try_connect(addr, device_id, None).await;
        assert_eq!(connack.code, ConnectReturnCode::Success);
        device
    }

    pub async fn send(&mut self, packet: Packet) {
        self.framed.send(packet).await.unwrap();
    }

    /// The next packet; `None` when the connection closed.
    pub async fn recv(&mut self) -> Option<Packet> {
        match tokio::time::timeout(PATIENCE, self.framed.next()).await {
            Ok(Some(Ok(packet))) => Some(packet),
            Ok(_) => None,
            Err(_) => panic!("nothing received in time"),
        }
    }

    /// Subscribes each filter in one SUBSCRIBE; the SUBACK's return codes.
    pub async fn subscribe(&mut self, filters: &[&str]) -> Vec<SubscribeReasonCode> {
        let filters: Vec<_> = filters
            .iter()
            .map(|f| SubscribeFilter::new((*f).to_owned(), QoS::AtLeastOnce))
            .collect();
        let mut subscribe = Subscribe::new_many(filters);
        subscribe.pkid = 1;
        self.send(Packet::Subscribe(subscribe)).await;
        loop {
            match self.recv().await {
                Some(Packet::SubAck(suback)) => return suback.return_codes,
                Some(_) => continue,
                None => panic!("connection closed before the SUBACK"),
            }
        }
    }

    /// The next PUBLISH, skipping other packets; a QoS 1 one is
    /// acknowledged (unacknowledged ones would fill the broker's in-flight
    /// window and stop deliveries).
    pub async fn publish_received(&mut self) -> rumqttc::mqttbytes::v4::Publish {
        loop {
            match self.recv().await {
                Some(Packet::Publish(publish)) => {
                    if publish.qos == QoS::AtLeastOnce {
                        let ack = rumqttc::mqttbytes::v4::PubAck::new(publish.pkid);
                        self.send(Packet::PubAck(ack)).await;
                    }
                    return publish;
                }
                Some(_) => continue,
                None => panic!("connection closed"),
            }
        }
    }
}
