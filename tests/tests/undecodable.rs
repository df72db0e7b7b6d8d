//! Bytes a client gets wrong are the client's error: random and mutated messages sent to every method of every service of the contract
//! (read from the descriptor set, so a new RPC is covered without editing this file) never answer `INTERNAL` or `UNKNOWN`, never hang and never take the server down.

use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

use gridwhistle_proto::FILE_DESCRIPTOR_SET;
use gridwhistle_tests::Backend;
use gridwhistle_tests::district::District;
use prost::Message as _;
use prost::bytes::{Buf, BufMut};
use prost_types::field_descriptor_proto::Type;
use prost_types::{DescriptorProto, FileDescriptorSet};
use tonic::Code;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::http::uri::PathAndQuery;

/// How long one call may take before the test calls it a hang; a call here takes milliseconds.
const HANG: Duration = Duration::from_secs(30);

/// Random messages and mutations of a well-formed one, per method and caller.
const RANDOM_PER_METHOD: usize = 6;
const MUTATIONS_PER_METHOD: usize = 10;

/// Sends and receives messages as raw bytes.
#[derive(Debug, Clone, Default)]
struct RawCodec;

impl Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> Self::Encoder {
        RawCodec
    }

    fn decoder(&mut self) -> Self::Decoder {
        RawCodec
    }
}

impl Encoder for RawCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn encode(&mut self, item: Vec<u8>, buf: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        buf.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, tonic::Status> {
        Ok(Some(buf.copy_to_bytes(buf.remaining()).to_vec()))
    }
}

/// A small deterministic generator (xorshift64*), so a failure replays.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % (n.max(1) as u64)).unwrap()
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next().to_le_bytes()[0]).collect()
    }
}

/// A method of the contract: `/package.Service/Method`, its input type, and whether it streams its answer.
struct Method {
    path: String,
    input: String,
    server_streaming: bool,
}

fn contract() -> (Vec<Method>, HashMap<String, DescriptorProto>) {
    let set = FileDescriptorSet::decode(FILE_DESCRIPTOR_SET).unwrap();
    let mut messages = HashMap::new();
    let mut methods = Vec::new();
    for file in &set.file {
        for m in &file.message_type {
            collect(&mut messages, file.package(), m);
        }
        for service in &file.service {
            for method in &service.method {
                methods.push(Method {
                    path: format!("/{}.{}/{}", file.package(), service.name(), method.name()),
                    input: method.input_type().trim_start_matches('.').to_owned(),
                    server_streaming: method.server_streaming(),
                });
            }
        }
    }
    (methods, messages)
}

fn collect(messages: &mut HashMap<String, DescriptorProto>, scope: &str, m: &DescriptorProto) {
    let name = format!("{scope}.{}", m.name());
    for nested in &m.nested_type {
        collect(messages, &name, nested);
    }
    messages.insert(name, m.clone());
}

fn varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// A well-formed message of `name` with every field set once, nested messages to `depth`.
fn well_formed(messages: &HashMap<String, DescriptorProto>, name: &str, depth: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let Some(message) = messages.get(name) else {
        return out;
    };
    for field in &message.field {
        let number = u64::try_from(field.number()).unwrap();
        match field.r#type() {
            Type::Double | Type::Fixed64 | Type::Sfixed64 => {
                varint(&mut out, number << 3 | 1);
                out.extend_from_slice(&1.0f64.to_le_bytes());
            }
            Type::Float | Type::Fixed32 | Type::Sfixed32 => {
                varint(&mut out, number << 3 | 5);
                out.extend_from_slice(&1.0f32.to_le_bytes());
            }
            Type::String | Type::Bytes => {
                varint(&mut out, number << 3 | 2);
                let text = b"departments/x";
                varint(&mut out, text.len() as u64);
                out.extend_from_slice(text);
            }
            Type::Message if depth > 0 => {
                let inner = well_formed(
                    messages,
                    field.type_name().trim_start_matches('.'),
                    depth - 1,
                );
                varint(&mut out, number << 3 | 2);
                varint(&mut out, inner.len() as u64);
                out.extend_from_slice(&inner);
            }
            Type::Message | Type::Group => {}
            _ => {
                varint(&mut out, number << 3);
                varint(&mut out, 1);
            }
        }
    }
    out
}

/// The string fields of `name`, to send invalid UTF-8 in.
fn string_fields(messages: &HashMap<String, DescriptorProto>, name: &str) -> Vec<u64> {
    messages.get(name).map_or_else(Vec::new, |m| {
        m.field
            .iter()
            .filter(|f| f.r#type() == Type::String)
            .map(|f| u64::try_from(f.number()).unwrap())
            .collect()
    })
}

fn mutate(rng: &mut Rng, seed: &[u8], strings: &[u64]) -> Vec<u8> {
    let mut bytes = seed.to_vec();
    match rng.below(6) {
        // Truncated somewhere inside a field.
        0 if !bytes.is_empty() => bytes.truncate(rng.below(bytes.len())),
        // One byte flipped.
        1 if !bytes.is_empty() => {
            let at = rng.below(bytes.len());
            bytes[at] ^= rng.bytes(1)[0] | 1;
        }
        // A string field holding bytes that are not UTF-8.
        2 if !strings.is_empty() => {
            let number = strings[rng.below(strings.len())];
            varint(&mut bytes, number << 3 | 2);
            bytes.extend_from_slice(&[3, 0xff, 0xfe, 0x80]);
        }
        // A length that runs past the end.
        3 => {
            varint(&mut bytes, 1 << 3 | 2);
            varint(&mut bytes, 1_000_000);
            bytes.push(0);
        }
        // An enum or integer field holding a huge or negative number.
        4 => {
            varint(&mut bytes, (1 + rng.below(8) as u64) << 3);
            varint(&mut bytes, rng.next());
        }
        _ => {
            let extra = rng.below(24);
            bytes.extend(rng.bytes(extra));
        }
    }
    bytes
}

/// Sends `bytes` to `method` as the holder of `token`; the code it answered with.
async fn send(district: &District, token: &str, method: &Method, bytes: Vec<u8>) -> Code {
    let mut grpc = tonic::client::Grpc::new(district.app.channel.clone());
    grpc.ready().await.expect("the channel is ready");
    let mut request = tonic::Request::new(tokio_stream::iter(vec![bytes]));
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    let path = PathAndQuery::from_str(&method.path).unwrap();
    let call = async {
        match grpc.streaming(request, path, RawCodec).await {
            Err(status) => status.code(),
            // A stream that started is an answer; a single answer is read to its status.
            Ok(_) if method.server_streaming => Code::Ok,
            Ok(response) => match response.into_inner().message().await {
                Ok(_) => Code::Ok,
                Err(status) => status.code(),
            },
        }
    };
    tokio::time::timeout(HANG, call)
        .await
        .unwrap_or_else(|_| panic!("{} hung", method.path))
}

#[tokio::test]
async fn random_and_mutated_bytes_never_answer_internal_on_any_method() {
    let (methods, messages) = contract();
    assert!(
        methods.len() > 50,
        "every service's methods: {}",
        methods.len()
    );
    let district = District::start(Backend::Sqlite).await;
    let callers = [
        "admin",
        "supervisor",
        "worker.g-jianwai-1-01",
        "duty.street-jianwai",
    ];
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut failures = Vec::new();
    let mut calls = 0;
    for method in &methods {
        let seed = well_formed(&messages, &method.input, 3);
        let strings = string_fields(&messages, &method.input);
        for caller in callers {
            let token = district.token(caller).await;
            let mut inputs: Vec<Vec<u8>> = (0..RANDOM_PER_METHOD)
                .map(|_| {
                    let len = rng.below(64);
                    rng.bytes(len)
                })
                .collect();
            inputs.extend((0..MUTATIONS_PER_METHOD).map(|_| mutate(&mut rng, &seed, &strings)));
            for bytes in inputs {
                calls += 1;
                let shown = format!("{bytes:02x?}");
                let code = send(&district, &token, method, bytes).await;
                if matches!(
                    code,
                    Code::Internal | Code::Unknown | Code::Unavailable | Code::DataLoss
                ) {
                    failures.push(format!("{} as {caller}: {code:?} for {shown}", method.path));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {calls} calls:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // The server is still up and answering.
    let mut health =
        tonic_health::pb::health_client::HealthClient::new(district.app.channel.clone());
    health
        .check(tonic_health::pb::HealthCheckRequest::default())
        .await
        .expect("the server still answers");
}

#[tokio::test]
async fn an_enum_value_the_contract_does_not_declare_is_refused_naming_its_field() {
    use gridwhistle_tests::district::{new_report_id, point_in_grid, report_at};

    let district = District::start(Backend::Sqlite).await;
    let token = district.token("worker.g-jianwai-1-01").await;
    let (lat, lng) = point_in_grid("g-jianwai-1-01");
    let mut report = report_at(lat, lng, "neighbour-dispute");
    report.location.as_mut().unwrap().coordinate_system = 9;
    report.risk_grade = -1;
    let refused = district
        .app
        .reports(&token)
        .create_report(gridwhistle_proto::v1::CreateReportRequest {
            report_id: new_report_id(),
            report: Some(report),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert_eq!(
        gridwhistle_tests::field_violations(&refused),
        ["report.location.coordinate_system", "report.risk_grade"]
    );
    assert!(
        refused
            .message()
            .contains("9 is not a known CoordinateSystem"),
        "{}",
        refused.message()
    );
}
