//! The gRPC codec of every `gridwhistle.v1` method: prost encoding, with the decoding errors a client can cause answered as client errors.
//!
//! tonic's own prost codec answers bytes that do not decode with `INTERNAL`; operators alert on `INTERNAL`, which must mean a defect of ours.
//! Here a message that does not decode is `INVALID_ARGUMENT`, and so is a message that decodes but carries an enum value its enum does not declare
//! (proto3 enums are open, so prost keeps such a value as a bare number): every enum of every message is checked here, once, against the descriptor set,
//! and the offending field is named in a `google.rpc.BadRequest` as the handlers name theirs (`report.location.coordinate_system`, `policies[0].stages[1].stage`).

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::marker::PhantomData;
use std::sync::OnceLock;

use prost::bytes::Buf;
use prost::{Message, Name};
use prost_types::field_descriptor_proto::{Label, Type};
use tonic::codec::{BufferSettings, Codec, DecodeBuf, Decoder};
use tonic::{Code, Status};
use tonic_prost::ProstEncoder;
use tonic_types::{ErrorDetails, StatusExt};

/// At most this many enum violations are named in one answer.
const MAX_VIOLATIONS: usize = 20;

/// Messages nested deeper than this are not walked further; prost refuses deeper nesting at 100 anyway.
const MAX_DEPTH: usize = 64;

/// The codec generated clients and servers use: prost's encoder, and [`CheckedDecoder`].
#[derive(Debug, Clone)]
pub struct CheckedCodec<T, U> {
    _pd: PhantomData<(T, U)>,
}

impl<T, U> Default for CheckedCodec<T, U> {
    fn default() -> Self {
        Self { _pd: PhantomData }
    }
}

impl<T, U> Codec for CheckedCodec<T, U>
where
    T: Message + Send + 'static,
    U: Message + Name + Default + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = ProstEncoder<T>;
    type Decoder = CheckedDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        ProstEncoder::new(BufferSettings::default())
    }

    fn decoder(&mut self) -> Self::Decoder {
        CheckedDecoder { _pd: PhantomData }
    }
}

/// Decodes `U`, answering undecodable bytes and undeclared enum values with `INVALID_ARGUMENT`.
#[derive(Debug, Clone)]
pub struct CheckedDecoder<U> {
    _pd: PhantomData<U>,
}

impl<U: Message + Name + Default> Decoder for CheckedDecoder<U> {
    type Item = U;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<U>, Status> {
        let bytes = buf.copy_to_bytes(buf.remaining());
        let item = U::decode(bytes.clone()).map_err(|err| {
            Status::invalid_argument(format!(
                "the message is not a valid {}: {err}",
                U::full_name()
            ))
        })?;
        let violations = check_enums(&U::full_name(), &bytes);
        if violations.is_empty() {
            return Ok(Some(item));
        }
        let mut details = ErrorDetails::new();
        let mut message = String::from("invalid argument");
        for (field, description) in &violations {
            let _ = write!(message, "; {field}: {description}");
            details.add_bad_request_violation(field, description);
        }
        Err(Status::with_error_details(
            Code::InvalidArgument,
            message,
            details,
        ))
    }

    fn buffer_settings(&self) -> BufferSettings {
        BufferSettings::default()
    }
}

/// What a field holds, as far as checking enums goes.
#[derive(Debug)]
enum Kind {
    Enum { name: String, values: HashSet<i32> },
    Message(String),
    Other,
}

#[derive(Debug)]
struct Field {
    name: String,
    repeated: bool,
    kind: Kind,
}

/// Every message of the API by its full name (`gridwhistle.v1.Report`), with its fields by number.
#[derive(Debug, Default)]
struct Schema {
    messages: HashMap<String, HashMap<u32, Field>>,
}

fn schema() -> &'static Schema {
    static SCHEMA: OnceLock<Schema> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        prost_types::FileDescriptorSet::decode(crate::FILE_DESCRIPTOR_SET)
            .map(|set| Schema::new(&set))
            .unwrap_or_default()
    })
}

impl Schema {
    fn new(set: &prost_types::FileDescriptorSet) -> Self {
        let mut enums: HashMap<String, (String, HashSet<i32>)> = HashMap::new();
        let mut messages = Vec::new();
        for file in &set.file {
            let package = file.package();
            for e in &file.enum_type {
                add_enum(&mut enums, package, e);
            }
            for m in &file.message_type {
                collect(&mut enums, &mut messages, package, m);
            }
        }
        let messages = messages
            .into_iter()
            .map(|(name, descriptor)| {
                let fields = descriptor
                    .field
                    .iter()
                    .map(|f| {
                        let type_name = f.type_name().trim_start_matches('.');
                        let kind = match f.r#type() {
                            Type::Enum => {
                                enums
                                    .get(type_name)
                                    .map_or(Kind::Other, |(n, v)| Kind::Enum {
                                        name: n.clone(),
                                        values: v.clone(),
                                    })
                            }
                            Type::Message => Kind::Message(type_name.to_owned()),
                            _ => Kind::Other,
                        };
                        let field = Field {
                            name: f.name().to_owned(),
                            repeated: f.label() == Label::Repeated,
                            kind,
                        };
                        (u32::try_from(f.number()).unwrap_or(0), field)
                    })
                    .collect();
                (name, fields)
            })
            .collect();
        Self { messages }
    }
}

fn add_enum(
    enums: &mut HashMap<String, (String, HashSet<i32>)>,
    scope: &str,
    e: &prost_types::EnumDescriptorProto,
) {
    let values = e.value.iter().map(|v| v.number()).collect();
    enums.insert(
        format!("{scope}.{}", e.name()),
        (e.name().to_owned(), values),
    );
}

fn collect(
    enums: &mut HashMap<String, (String, HashSet<i32>)>,
    messages: &mut Vec<(String, prost_types::DescriptorProto)>,
    scope: &str,
    m: &prost_types::DescriptorProto,
) {
    let name = format!("{scope}.{}", m.name());
    for e in &m.enum_type {
        add_enum(enums, &name, e);
    }
    for nested in &m.nested_type {
        collect(enums, messages, &name, nested);
    }
    messages.push((name, m.clone()));
}

/// The enum fields of `bytes`, a valid encoding of `message`, whose values their enum does not declare: (field path, reason).
fn check_enums(message: &str, bytes: &[u8]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    walk(schema(), message, bytes, "", 0, &mut out);
    out
}

fn walk(
    schema: &Schema,
    message: &str,
    mut bytes: &[u8],
    prefix: &str,
    depth: usize,
    out: &mut Vec<(String, String)>,
) {
    let Some(fields) = schema.messages.get(message) else {
        return;
    };
    if depth > MAX_DEPTH {
        return;
    }
    let mut seen: HashMap<u32, usize> = HashMap::new();
    while !bytes.is_empty() && out.len() < MAX_VIOLATIONS {
        let Some(key) = varint(&mut bytes) else {
            return;
        };
        let (number, wire) = (u32::try_from(key >> 3).unwrap_or(0), key & 7);
        let field = fields.get(&number);
        let index = {
            let n = seen.entry(number).or_insert(0);
            *n += 1;
            *n - 1
        };
        let path = |i: usize| match field {
            Some(f) if f.repeated => format!("{prefix}{}[{i}]", f.name),
            Some(f) => format!("{prefix}{}", f.name),
            None => String::new(),
        };
        match wire {
            0 => {
                let Some(value) = varint(&mut bytes) else {
                    return;
                };
                if let Some(Field {
                    kind: Kind::Enum { name, values },
                    ..
                }) = field
                {
                    check_value(value, name, values, path(index), out);
                }
            }
            1 => bytes = bytes.get(8..).unwrap_or_default(),
            5 => bytes = bytes.get(4..).unwrap_or_default(),
            2 => {
                let Some(len) = varint(&mut bytes).and_then(|l| usize::try_from(l).ok()) else {
                    return;
                };
                let Some(inner) = bytes.get(..len) else {
                    return;
                };
                bytes = &bytes[len..];
                match field.map(|f| &f.kind) {
                    Some(Kind::Message(nested)) => {
                        let nested_prefix = format!("{}.", path(index));
                        walk(schema, nested, inner, &nested_prefix, depth + 1, out);
                    }
                    // A packed repeated enum: its values one after another.
                    Some(Kind::Enum { name, values }) => {
                        let mut packed = inner;
                        let mut i = index;
                        while !packed.is_empty() {
                            let Some(value) = varint(&mut packed) else {
                                break;
                            };
                            check_value(value, name, values, path(i), out);
                            i += 1;
                        }
                        seen.insert(number, i);
                    }
                    _ => {}
                }
            }
            // Groups are not used by this API; prost has already accepted or refused the bytes.
            _ => return,
        }
    }
}

fn check_value(
    value: u64,
    name: &str,
    values: &HashSet<i32>,
    path: String,
    out: &mut Vec<(String, String)>,
) {
    // An enum travels as an int32: prost keeps the low 32 bits.
    #[allow(clippy::cast_possible_truncation)]
    let value = value as i32;
    if !values.contains(&value) {
        out.push((path, format!("{value} is not a known {name}")));
    }
}

fn varint(bytes: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = bytes.split_first()?;
        *bytes = rest;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::v1;

    fn violations<M: Message + Name>(message: &M) -> Vec<(String, String)> {
        check_enums(&M::full_name(), &message.encode_to_vec())
    }

    #[test]
    fn known_values_pass_and_unknown_ones_are_named_by_their_path() {
        let mut request = v1::CreateReportRequest {
            report_id: "x".to_owned(),
            report: Some(v1::Report {
                location: Some(v1::Location {
                    coordinate_system: v1::CoordinateSystem::Gcj02.into(),
                    ..Default::default()
                }),
                risk_grade: v1::RiskGrade::A.into(),
                ..Default::default()
            }),
        };
        assert!(violations(&request).is_empty());
        let report = request.report.as_mut().unwrap();
        report.location.as_mut().unwrap().coordinate_system = 9;
        report.risk_grade = -3;
        assert_eq!(
            violations(&request),
            [
                (
                    "report.location.coordinate_system".to_owned(),
                    "9 is not a known CoordinateSystem".to_owned()
                ),
                (
                    "report.risk_grade".to_owned(),
                    "-3 is not a known RiskGrade".to_owned()
                ),
            ]
        );
    }

    #[test]
    fn repeated_messages_are_indexed() {
        let ladder = |audience| v1::LadderStep {
            audience,
            ..Default::default()
        };
        let request = v1::ImportTimeLimitPoliciesRequest {
            policies: vec![v1::TimeLimitPolicy {
                stages: vec![
                    v1::StagePolicy::default(),
                    v1::StagePolicy {
                        stage: 42,
                        ladder: vec![ladder(1), ladder(77)],
                        ..Default::default()
                    },
                ],
                ..Default::default()
            }],
        };
        let fields: Vec<String> = violations(&request).into_iter().map(|v| v.0).collect();
        assert_eq!(
            fields,
            [
                "policies[0].stages[1].stage",
                "policies[0].stages[1].ladder[1].audience"
            ]
        );
    }

    #[test]
    fn every_request_message_of_the_api_is_in_the_schema() {
        let schema = schema();
        for name in ["gridwhistle.v1.WhoAmIRequest", "gridwhistle.v1.Report"] {
            assert!(schema.messages.contains_key(name), "{name}");
        }
        assert!(v1::ListBoundaryGenerationsRequest::full_name().starts_with("gridwhistle.v1."));
    }
}
