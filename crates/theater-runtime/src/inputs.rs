//! The inputs file: external one-way inputs as JSON Lines, one per line, read by
//! `theater run --inputs` and `theater-replay fork --inputs`.
//!
//! A line is `{"to": NAME or ID, "message": JSON}` (the message's JSON text is the
//! payload) or `{"to": NAME or ID, "text": "…"}` (the text is). Blank lines are skipped.
//! A name is a top-level actor's, resolved against the running system when the input is
//! fed, since actors may be spawned by then.

use theater_trace::ActorId;

use crate::scheduler::System;

/// Who an input goes to, as the line says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Recipient {
    Name(String),
    Id(ActorId),
}

/// One line of an inputs file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputLine {
    pub to: Recipient,
    pub payload: Vec<u8>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    to: serde_json::Value,
    message: Option<serde_json::Value>,
    text: Option<String>,
}

impl InputLine {
    /// Parses one line; `Ok(None)` for a blank one. The error says what is wrong with it
    /// (the caller adds where it is).
    pub fn parse(line: &str) -> Result<Option<InputLine>, String> {
        if line.trim().is_empty() {
            return Ok(None);
        }
        let l: Line = serde_json::from_str(line).map_err(|e| format!("not an input: {e}"))?;
        let to = match l.to {
            serde_json::Value::Number(id) => Recipient::Id(
                id.as_u64()
                    .ok_or("an actor id must be a non-negative integer")?,
            ),
            serde_json::Value::String(name) => Recipient::Name(name),
            _ => return Err("`to` must be an actor name or id".into()),
        };
        let payload = match (l.message, l.text) {
            (Some(m), None) => m.to_string().into_bytes(),
            (None, Some(t)) => t.into_bytes(),
            _ => return Err("give exactly one of `message` and `text`".into()),
        };
        Ok(Some(InputLine { to, payload }))
    }

    /// Every input of a whole file's text, each error naming its line (1-based).
    pub fn parse_all(text: &str) -> Result<Vec<InputLine>, String> {
        let mut out = Vec::new();
        for (n, line) in text.lines().enumerate() {
            if let Some(input) =
                InputLine::parse(line).map_err(|e| format!("line {}: {e}", n + 1))?
            {
                out.push(input);
            }
        }
        Ok(out)
    }

    /// The actor the input goes to in `system`.
    pub fn recipient(&self, system: &System) -> Result<ActorId, String> {
        match &self.to {
            Recipient::Id(id) => Ok(*id),
            Recipient::Name(name) => system
                .actor_id(name)
                .ok_or_else(|| format!("no top-level actor named {name:?}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_parse_to_recipients_and_payloads() {
        let l = InputLine::parse(r#"{"to": "bank", "message": {"open": {"amount": 1}}}"#)
            .unwrap()
            .unwrap();
        assert_eq!(l.to, Recipient::Name("bank".into()));
        assert_eq!(l.payload, br#"{"open":{"amount":1}}"#);
        let l = InputLine::parse(r#"{"to": 3, "text": "hi"}"#)
            .unwrap()
            .unwrap();
        assert_eq!((l.to, l.payload), (Recipient::Id(3), b"hi".to_vec()));
        assert_eq!(InputLine::parse("   "), Ok(None));
    }

    #[test]
    fn bad_lines_say_what_is_wrong_and_where() {
        let bad = |line: &str| InputLine::parse(line).unwrap_err();
        assert!(bad("{").contains("not an input"));
        assert!(bad(r#"{"to": -1, "text": "x"}"#).contains("non-negative"));
        assert!(bad(r#"{"to": [], "text": "x"}"#).contains("name or id"));
        assert!(bad(r#"{"to": 0}"#).contains("exactly one"));
        assert!(bad(r#"{"to": 0, "text": "x", "message": 1}"#).contains("exactly one"));
        assert!(bad(r#"{"to": 0, "text": "x", "extra": 1}"#).contains("not an input"));
        let e = InputLine::parse_all("{\"to\": 0, \"text\": \"a\"}\n\n{\"to\": 0}\n").unwrap_err();
        assert!(e.starts_with("line 3: "), "{e}");
    }
}
