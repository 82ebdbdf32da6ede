//! Parsing YAML into a `serde_norway::Value` with a budget, so a small file full of aliases
//! (a "billion laughs") cannot make us build a huge tree. serde_norway caps nesting depth and
//! the number of alias jumps, but not the size of what each jump copies.

use std::cell::Cell;
use std::collections::HashSet;
use std::fmt;

use serde::de::{self, DeserializeSeed, EnumAccess, MapAccess, SeqAccess, VariantAccess, Visitor};
use serde_norway::value::{Tag, TaggedValue};
use serde_norway::{Mapping, Value};

use crate::DescriptorError;

/// Most nodes (scalars, sequences, mappings) a descriptor may expand to.
pub const MAX_YAML_NODES: usize = 250_000;
/// Most bytes of scalar text a descriptor may expand to.
pub const MAX_YAML_TEXT_BYTES: usize = 4 << 20;

struct Budget {
    nodes: Cell<usize>,
    text: Cell<usize>,
    exceeded: Cell<bool>,
}

impl Budget {
    fn charge<E: de::Error>(&self, text_len: usize) -> Result<(), E> {
        let nodes = self.nodes.get().saturating_add(1);
        let text = self.text.get().saturating_add(text_len);
        self.nodes.set(nodes);
        self.text.set(text);
        if nodes > MAX_YAML_NODES || text > MAX_YAML_TEXT_BYTES {
            self.exceeded.set(true);
            return Err(E::custom("document too large once aliases are expanded"));
        }
        Ok(())
    }
}

/// Parses one YAML document, refusing it once it grows past the budget.
pub(crate) fn parse_value(yaml: &[u8]) -> Result<Value, DescriptorError> {
    let budget = Budget {
        nodes: Cell::new(0),
        text: Cell::new(0),
        exceeded: Cell::new(false),
    };
    let result = Node(&budget).deserialize(serde_norway::Deserializer::from_slice(yaml));
    match result {
        Ok(value) => Ok(value),
        // serde_norway's own cap on alias jumps trips first on deeply chained aliases.
        Err(e)
            if budget.exceeded.get() || e.to_string().starts_with("repetition limit exceeded") =>
        {
            Err(DescriptorError::TooComplex {
                max_nodes: MAX_YAML_NODES,
                max_bytes: MAX_YAML_TEXT_BYTES,
            })
        }
        Err(e) => Err(DescriptorError::Yaml(e.to_string())),
    }
}

#[derive(Clone, Copy)]
struct Node<'b>(&'b Budget);

impl<'de> DeserializeSeed<'de> for Node<'_> {
    type Value = Value;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Node<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_bool<E: de::Error>(self, b: bool) -> Result<Value, E> {
        self.0.charge(0)?;
        Ok(Value::Bool(b))
    }

    fn visit_i64<E: de::Error>(self, i: i64) -> Result<Value, E> {
        self.0.charge(0)?;
        Ok(Value::Number(i.into()))
    }

    fn visit_u64<E: de::Error>(self, u: u64) -> Result<Value, E> {
        self.0.charge(0)?;
        Ok(Value::Number(u.into()))
    }

    fn visit_f64<E: de::Error>(self, f: f64) -> Result<Value, E> {
        self.0.charge(0)?;
        Ok(Value::Number(f.into()))
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Value, E> {
        self.0.charge(s.len())?;
        Ok(Value::String(s.to_owned()))
    }

    fn visit_string<E: de::Error>(self, s: String) -> Result<Value, E> {
        self.0.charge(s.len())?;
        Ok(Value::String(s))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        self.0.charge(0)?;
        Ok(Value::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        self.visit_unit()
    }

    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        self.deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        self.0.charge(0)?;
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(self)? {
            items.push(item);
        }
        Ok(Value::Sequence(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        self.0.charge(0)?;
        let mut mapping = Mapping::new();
        while let Some(key) = map.next_key_seed(self)? {
            if matches!(
                key,
                Value::Mapping(_) | Value::Sequence(_) | Value::Tagged(_)
            ) {
                return Err(de::Error::custom(
                    "mapping keys must be plain scalars (strings, numbers or booleans)",
                ));
            }
            if mapping.contains_key(&key) {
                return Err(de::Error::custom(format!(
                    "duplicate mapping key {}",
                    describe_key(&key)
                )));
            }
            let value = map.next_value_seed(self)?;
            mapping.insert(key, value);
        }
        Ok(Value::Mapping(mapping))
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<Value, A::Error> {
        let (tag, contents): (String, _) = data.variant()?;
        if tag.is_empty() {
            // `Tag::new` panics on an empty tag.
            return Err(de::Error::custom("empty YAML tag"));
        }
        self.0.charge(tag.len())?;
        let value = contents.newtype_variant_seed(self)?;
        Ok(Value::Tagged(Box::new(TaggedValue {
            tag: Tag::new(tag),
            value,
        })))
    }
}

/// A mapping key as a person reads it in an error or a path.
pub(crate) fn describe_key(key: &Value) -> String {
    match key {
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Null => "null".to_string(),
        _ => "<complex key>".to_string(),
    }
}

/// Applies YAML merge keys (`<<`) in place, putting merged entries where the `<<` stood so
/// the file keeps its order (serde_norway's own `apply_merge` swaps entries around).
/// Explicit keys win over merged ones; earlier merge sources win over later ones.
pub(crate) fn apply_merge(value: &mut Value) -> Result<(), DescriptorError> {
    let mut stack = vec![value];
    while let Some(node) = stack.pop() {
        match node {
            Value::Mapping(map) => {
                if map.contains_key("<<") {
                    *map = merged(std::mem::take(map))?;
                }
                stack.extend(map.values_mut());
            }
            Value::Sequence(items) => stack.extend(items.iter_mut()),
            Value::Tagged(tagged) => stack.push(&mut tagged.value),
            Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => {}
        }
    }
    Ok(())
}

fn merged(map: Mapping) -> Result<Mapping, DescriptorError> {
    let explicit: HashSet<Value> = map
        .keys()
        .filter(|k| k.as_str() != Some("<<"))
        .cloned()
        .collect();
    let mut out = Mapping::new();
    for (key, value) in map {
        if key.as_str() != Some("<<") {
            out.insert(key, value);
            continue;
        }
        let sources = match value {
            Value::Mapping(source) => vec![source],
            Value::Sequence(items) => items
                .into_iter()
                .map(|item| match item {
                    Value::Mapping(source) => Ok(source),
                    _ => Err(DescriptorError::Yaml(
                        "a merge key (`<<`) list may only hold mappings".to_string(),
                    )),
                })
                .collect::<Result<_, _>>()?,
            _ => {
                return Err(DescriptorError::Yaml(
                    "a merge key (`<<`) must be a mapping or a list of mappings".to_string(),
                ))
            }
        };
        for source in sources {
            for (k, v) in source {
                if !explicit.contains(&k) && !out.contains_key(&k) {
                    out.insert(k, v);
                }
            }
        }
    }
    Ok(out)
}
