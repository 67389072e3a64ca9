//! CBOR to JSON and back, for the proxy's CloudWatch translation: the Rust SDK speaks
//! CloudWatch's rpc-v2-cbor protocol, which moto 5.2.5 does not; moto speaks the same
//! API in JSON 1.0. Timestamps (fields named `*Timestamp`) are CBOR tag 1 epoch seconds
//! on the CBOR side and numbers of seconds on the JSON side, as both protocols define.

use minicbor::data::{Tag, Type};
use minicbor::{Decoder, Encoder};
use serde_json::{Map, Number, Value};

/// The CBOR document as JSON (an empty body is an empty object).
pub fn to_json(bytes: &[u8]) -> Value {
    if bytes.is_empty() {
        return Value::Object(Map::new());
    }
    value(&mut Decoder::new(bytes))
}

fn is_break(d: &Decoder) -> bool {
    matches!(d.datatype(), Ok(Type::Break))
}

fn value(d: &mut Decoder) -> Value {
    let ty = d.datatype().expect("a CBOR item");
    match ty {
        Type::Bool => Value::Bool(d.bool().unwrap()),
        Type::Null | Type::Undefined => {
            d.skip().unwrap();
            Value::Null
        }
        Type::U8 | Type::U16 | Type::U32 | Type::U64 => Value::from(d.u64().unwrap()),
        Type::I8 | Type::I16 | Type::I32 | Type::I64 | Type::Int => Value::from(d.i64().unwrap()),
        Type::F16 => float(d.f16().unwrap() as f64),
        Type::F32 => float(d.f32().unwrap() as f64),
        Type::F64 => float(d.f64().unwrap()),
        Type::String => Value::String(d.str().unwrap().to_string()),
        Type::StringIndef => Value::String(d.str_iter().unwrap().map(|s| s.unwrap()).collect()),
        Type::Array | Type::ArrayIndef => {
            let mut items = Vec::new();
            match d.array().unwrap() {
                Some(n) => (0..n).for_each(|_| items.push(value(d))),
                None => {
                    while !is_break(d) {
                        items.push(value(d));
                    }
                    d.set_position(d.position() + 1);
                }
            }
            Value::Array(items)
        }
        Type::Map | Type::MapIndef => {
            let mut map = Map::new();
            let mut entry = |d: &mut Decoder| {
                let key = d.str().unwrap().to_string();
                map.insert(key, value(d));
            };
            match d.map().unwrap() {
                Some(n) => (0..n).for_each(|_| entry(d)),
                None => {
                    while !is_break(d) {
                        entry(d);
                    }
                    d.set_position(d.position() + 1);
                }
            }
            Value::Object(map)
        }
        Type::Tag => {
            d.tag().unwrap();
            value(d)
        }
        other => panic!("CBOR type {other} is not translated"),
    }
}

fn float(f: f64) -> Value {
    Number::from_f64(f).map(Value::Number).unwrap_or(Value::Null)
}

/// The JSON document as CBOR.
pub fn from_json(v: &Value) -> Vec<u8> {
    let mut e = Encoder::new(Vec::new());
    encode(&mut e, v, false);
    e.into_writer()
}

fn encode(e: &mut Encoder<Vec<u8>>, v: &Value, timestamp: bool) {
    match v {
        Value::Null => {
            e.null().unwrap();
        }
        Value::Bool(b) => {
            e.bool(*b).unwrap();
        }
        Value::Number(n) if timestamp => {
            e.tag(Tag::new(1)).unwrap().f64(n.as_f64().unwrap()).unwrap();
        }
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                e.u64(u).unwrap();
            } else if let Some(i) = n.as_i64() {
                e.i64(i).unwrap();
            } else {
                e.f64(n.as_f64().unwrap()).unwrap();
            }
        }
        Value::String(s) => {
            e.str(s).unwrap();
        }
        Value::Array(items) => {
            e.array(items.len() as u64).unwrap();
            for item in items {
                encode(e, item, timestamp);
            }
        }
        Value::Object(map) => {
            e.map(map.len() as u64).unwrap();
            for (k, item) in map {
                e.str(k).unwrap();
                encode(e, item, k.ends_with("Timestamp"));
            }
        }
    }
}
