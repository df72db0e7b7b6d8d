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
        let violations = check_enums(U::PACKAGE, U::NAME, &bytes);
        if violations.is_empty() {
            return Ok(Some(item));
        }
        Err(bad_request(&violations))
    }

    fn buffer_settings(&self) -> BufferSettings {
        BufferSettings::default()
    }
}

/// `INVALID_ARGUMENT` naming each (field, description) in a `google.rpc.BadRequest`, and in the message for readers without details support.
///
/// The one shape of a field error on the wire: the codec's and the API's alike.
pub fn bad_request<F: AsRef<str>, D: AsRef<str>>(violations: &[(F, D)]) -> Status {
    let mut details = ErrorDetails::new();
    let mut message = String::from("invalid argument");
    for (field, description) in violations {
        let (field, description) = (field.as_ref(), description.as_ref());
        let _ = write!(message, "; {field}: {description}");
        details.add_bad_request_violation(field, description);
    }
    Status::with_error_details(Code::InvalidArgument, message, details)
}

/// What a field holds, as far as checking enums goes.
#[derive(Debug)]
enum Kind {
    Enum {
        name: String,
        values: HashSet<i32>,
    },
    /// A message, by its index in [`Schema::messages`].
    Message(usize),
    Other,
}

#[derive(Debug)]
struct Field {
    name: String,
    repeated: bool,
    kind: Kind,
}

#[derive(Debug, Default)]
struct MessageSchema {
    fields: HashMap<u32, Field>,
    /// Whether the message or any message under it has an enum field: the others are not walked at all.
    has_enums: bool,
}

/// Every message of the API, found by package and name without building a string per call.
#[derive(Debug, Default)]
struct Schema {
    messages: Vec<MessageSchema>,
    by_name: HashMap<String, HashMap<String, usize>>,
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
        let mut found = Vec::new();
        for file in &set.file {
            let package = file.package();
            for e in &file.enum_type {
                add_enum(&mut enums, package, e);
            }
            for m in &file.message_type {
                collect(&mut enums, &mut found, package, "", m);
            }
        }
        let index: HashMap<String, usize> = found
            .iter()
            .enumerate()
            .map(|(i, (package, name, _))| (format!("{package}.{name}"), i))
            .collect();
        let mut messages: Vec<MessageSchema> = found
            .iter()
            .map(|(_, _, descriptor)| MessageSchema {
                fields: descriptor
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
                            Type::Message => index
                                .get(type_name)
                                .map_or(Kind::Other, |i| Kind::Message(*i)),
                            _ => Kind::Other,
                        };
                        let field = Field {
                            name: f.name().to_owned(),
                            repeated: f.label() == Label::Repeated,
                            kind,
                        };
                        (u32::try_from(f.number()).unwrap_or(0), field)
                    })
                    .collect(),
                has_enums: false,
            })
            .collect();
        // A message has enums when a field is one or a message field has some; settle it by repeating until nothing changes, which cycles allow.
        loop {
            let mut changed = false;
            for i in 0..messages.len() {
                if messages[i].has_enums {
                    continue;
                }
                let has = messages[i].fields.values().any(|f| match f.kind {
                    Kind::Enum { .. } => true,
                    Kind::Message(j) => messages[j].has_enums,
                    Kind::Other => false,
                });
                if has {
                    messages[i].has_enums = true;
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
        let mut by_name: HashMap<String, HashMap<String, usize>> = HashMap::new();
        for (i, (package, name, _)) in found.iter().enumerate() {
            by_name
                .entry(package.clone())
                .or_default()
                .insert(name.clone(), i);
        }
        Self { messages, by_name }
    }

    fn find(&self, package: &str, name: &str) -> Option<usize> {
        self.by_name.get(package)?.get(name).copied()
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

/// Collects `m` and the messages nested in it as (package, name within the package, descriptor); a nested name is `Outer.Inner`, as prost names it.
fn collect(
    enums: &mut HashMap<String, (String, HashSet<i32>)>,
    found: &mut Vec<(String, String, prost_types::DescriptorProto)>,
    package: &str,
    outer: &str,
    m: &prost_types::DescriptorProto,
) {
    let name = if outer.is_empty() {
        m.name().to_owned()
    } else {
        format!("{outer}.{}", m.name())
    };
    for e in &m.enum_type {
        add_enum(enums, &format!("{package}.{name}"), e);
    }
    for nested in &m.nested_type {
        collect(enums, found, package, &name, nested);
    }
    found.push((package.to_owned(), name, m.clone()));
}

/// Where a field sits, as a chain of segments built only when a violation names it.
#[derive(Clone, Copy)]
struct Path<'a> {
    parent: Option<&'a Path<'a>>,
    name: &'a str,
    index: Option<usize>,
}

impl Path<'_> {
    fn render(&self, out: &mut String) {
        if let Some(parent) = self.parent {
            parent.render(out);
            out.push('.');
        }
        out.push_str(self.name);
        if let Some(i) = self.index {
            let _ = write!(out, "[{i}]");
        }
    }
}

/// The enum fields of `bytes`, a valid encoding of the message `package.name`, whose values their enum does not declare: (field path, reason).
fn check_enums(package: &str, name: &str, bytes: &[u8]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let schema = schema();
    if let Some(message) = schema.find(package, name) {
        walk(schema, message, bytes, None, 0, &mut out);
    }
    out
}

fn walk(
    schema: &Schema,
    message: usize,
    mut bytes: &[u8],
    parent: Option<&Path<'_>>,
    depth: usize,
    out: &mut Vec<(String, String)>,
) {
    let Some(MessageSchema { fields, has_enums }) = schema.messages.get(message) else {
        return;
    };
    if !has_enums || depth > MAX_DEPTH {
        return;
    }
    // Occurrences of each repeated field so far, for its index; most messages have none.
    let mut seen: Vec<(u32, usize)> = Vec::new();
    while !bytes.is_empty() && out.len() < MAX_VIOLATIONS {
        let Some(key) = varint(&mut bytes) else {
            return;
        };
        let (number, wire) = (u32::try_from(key >> 3).unwrap_or(0), key & 7);
        let field = fields.get(&number);
        let mut index = None;
        if let Some(f) = field.filter(|f| f.repeated) {
            let slot = match seen.iter().position(|(n, _)| *n == number) {
                Some(slot) => slot,
                None => {
                    seen.push((number, 0));
                    seen.len() - 1
                }
            };
            index = Some(seen[slot].1);
            // A packed run counts its values below; any other occurrence counts one.
            if !(wire == 2 && matches!(f.kind, Kind::Enum { .. })) {
                seen[slot].1 += 1;
            }
        }
        let path = |index| Path {
            parent,
            name: field.map_or("", |f| f.name.as_str()),
            index,
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
                    check_value(value, name, values, &path(index), out);
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
                        let here = path(index);
                        walk(schema, *nested, inner, Some(&here), depth + 1, out);
                    }
                    // A packed repeated enum: its values one after another.
                    Some(Kind::Enum { name, values }) => {
                        let mut packed = inner;
                        let mut i = index.unwrap_or(0);
                        while !packed.is_empty() {
                            let Some(value) = varint(&mut packed) else {
                                break;
                            };
                            check_value(value, name, values, &path(Some(i)), out);
                            i += 1;
                        }
                        if let Some(slot) = seen.iter_mut().find(|(n, _)| *n == number) {
                            slot.1 = i;
                        }
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
    path: &Path<'_>,
    out: &mut Vec<(String, String)>,
) {
    // An enum travels as an int32: prost keeps the low 32 bits.
    #[allow(clippy::cast_possible_truncation)]
    let value = value as i32;
    if !values.contains(&value) {
        let mut field = String::new();
        path.render(&mut field);
        out.push((field, format!("{value} is not a known {name}")));
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
        check_enums(M::PACKAGE, M::NAME, &message.encode_to_vec())
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
        for name in ["WhoAmIRequest", "Report", "CreateReportRequest"] {
            assert!(schema.find("gridwhistle.v1", name).is_some(), "{name}");
        }
        let who = schema.find("gridwhistle.v1", "WhoAmIRequest").unwrap();
        assert!(
            !schema.messages[who].has_enums,
            "an empty request is not walked"
        );
        let create = schema
            .find("gridwhistle.v1", "CreateReportRequest")
            .unwrap();
        assert!(
            schema.messages[create].has_enums,
            "its report's location has a coordinate system"
        );
    }
}
