//! Function libraries (FUNCTION LOAD ... FCALL): state of the dataset like its keys,
//! changed only through the log, kept in snapshots and in the digest, so every
//! replica holds the same libraries. The engine keeps each library's code and what
//! it registered; reading the code (Lua) is the installed
//! [`crate::script::ScriptHost`]'s job.

use std::collections::BTreeMap;

use bytes::Bytes;

use crate::engine::Engine;
use crate::error::EngineError;
use crate::reply::Reply;

/// One registered function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionMeta {
    /// Name FCALL calls it by.
    pub name: Bytes,
    /// Its description, if registered with one.
    pub description: Option<Bytes>,
    /// Its flags (`no-writes`, `allow-oom`, ...), as registered.
    pub flags: Vec<Bytes>,
}

impl FunctionMeta {
    /// True when registered with `flag`.
    pub fn has(&self, flag: &str) -> bool {
        self.flags.iter().any(|f| f.as_ref() == flag.as_bytes())
    }
}

/// A library: its code and its functions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Library {
    /// The name in its `#!lua name=...` line.
    pub name: Bytes,
    /// The code, shebang included.
    pub code: Bytes,
    /// The code's SHA1, lower-case hex: what interpreters that loaded it know it by (so
    /// an FCALL never hashes the code again).
    pub sha: Bytes,
    /// What the code registered, in registration order.
    pub functions: Vec<FunctionMeta>,
}

/// Every library of a dataset, by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Libraries {
    libs: BTreeMap<Bytes, Library>,
}

impl Libraries {
    /// The library registering `function`, and the function.
    pub fn find(&self, function: &[u8]) -> Option<(&Library, &FunctionMeta)> {
        self.libs.values().find_map(|lib| {
            lib.functions
                .iter()
                .find(|f| f.name.as_ref() == function)
                .map(|f| (lib, f))
        })
    }

    /// Libraries in name order.
    pub fn iter(&self) -> impl Iterator<Item = &Library> {
        self.libs.values()
    }

    /// Number of libraries.
    pub fn len(&self) -> usize {
        self.libs.len()
    }

    /// True when there is none.
    pub fn is_empty(&self) -> bool {
        self.libs.is_empty()
    }

    /// Number of functions over all libraries.
    pub fn function_count(&self) -> usize {
        self.libs.values().map(|l| l.functions.len()).sum()
    }

    /// Adds `lib`, replacing one of the same name if `replace`; Redis's errors when it
    /// exists or one of its functions belongs to another library.
    pub fn insert(&mut self, lib: Library, replace: bool) -> Result<(), EngineError> {
        if self.libs.contains_key(&lib.name) && !replace {
            return Err(other(format!(
                "ERR Library '{}' already exists",
                String::from_utf8_lossy(&lib.name)
            )));
        }
        for function in &lib.functions {
            if let Some((owner, _)) = self.find(&function.name)
                && owner.name != lib.name
            {
                return Err(other(format!(
                    "ERR Function {} already exists",
                    String::from_utf8_lossy(&function.name)
                )));
            }
        }
        self.libs.insert(lib.name.clone(), lib);
        Ok(())
    }
}

fn other(text: String) -> EngineError {
    EngineError::Other(text)
}

/// Changes to the libraries, through the log.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum FunctionOp {
    /// FUNCTION LOAD [REPLACE] code.
    Load {
        /// The library's code.
        code: Bytes,
        /// REPLACE.
        replace: bool,
    },
    /// FUNCTION DELETE name.
    Delete {
        /// Library name.
        name: Bytes,
    },
    /// FUNCTION FLUSH.
    Flush,
    /// FUNCTION RESTORE payload [FLUSH|APPEND|REPLACE].
    Restore {
        /// A FUNCTION DUMP payload.
        payload: Bytes,
        /// What happens to the libraries there are.
        policy: RestorePolicy,
    },
}

/// FUNCTION RESTORE's policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum RestorePolicy {
    /// Add the payload's libraries; a library that exists is an error.
    Append,
    /// Add them, replacing libraries of the same name.
    Replace,
    /// Drop every library first.
    Flush,
}

/// First bytes of okapi's FUNCTION DUMP payload (Redis's RDB payloads are refused).
const DUMP_MAGIC: &[u8; 4] = b"OKFN";
/// Version of that payload.
const DUMP_VERSION: u8 = 1;

/// FUNCTION DUMP: magic, version, library count and each library's code (varint
/// length, bytes), then a CRC32C (u32 LE) of everything before it.
pub fn dump(libraries: &Libraries) -> Bytes {
    let mut out = Vec::new();
    out.extend_from_slice(DUMP_MAGIC);
    out.push(DUMP_VERSION);
    crate::snapshot::codec::put_varint(&mut out, libraries.len() as u64);
    for lib in libraries.iter() {
        crate::snapshot::codec::put_varint(&mut out, lib.code.len() as u64);
        out.extend_from_slice(&lib.code);
    }
    let crc = crc32c::crc32c(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    Bytes::from(out)
}

/// The library codes of a [`dump`] payload.
fn undump(payload: &[u8]) -> Result<Vec<Bytes>, EngineError> {
    let wrong = || other("ERR DUMP payload version or checksum are wrong".into());
    if payload.len() < DUMP_MAGIC.len() + 1 + 4 {
        return Err(wrong());
    }
    let (body, crc) = payload.split_at(payload.len() - 4);
    let crc = u32::from_le_bytes(crc.try_into().map_err(|_| wrong())?);
    if !body.starts_with(DUMP_MAGIC) || body[4] != DUMP_VERSION || crc32c::crc32c(body) != crc {
        return Err(wrong());
    }
    let mut reader = crate::snapshot::codec::Reader::new(&body[5..]);
    let count = reader.varint().map_err(|_| wrong())?;
    let mut codes = Vec::new();
    for _ in 0..count {
        let len = reader.varint().map_err(|_| wrong())?;
        let code = reader
            .slice(usize::try_from(len).map_err(|_| wrong())?)
            .map_err(|_| wrong())?;
        codes.push(Bytes::copy_from_slice(code));
    }
    if !reader.is_empty() {
        return Err(wrong());
    }
    Ok(codes)
}

/// Reads of the libraries.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum FunctionQuery {
    /// FUNCTION LIST [LIBRARYNAME pattern] [WITHCODE].
    List {
        /// Glob over library names.
        pattern: Option<Bytes>,
        /// WITHCODE.
        with_code: bool,
    },
    /// FUNCTION STATS (the engines part; the server adds the running script).
    Stats,
    /// FUNCTION DUMP.
    Dump,
}

impl FunctionOp {
    pub(crate) fn apply(self, engine: &mut Engine) -> Result<Reply, EngineError> {
        match self {
            FunctionOp::Load { code, replace } => {
                let lib = crate::script::load_library(&code).map_err(other)?;
                let name = lib.name.clone();
                engine.libraries.insert(lib, replace)?;
                Ok(Reply::Bulk(name))
            }
            FunctionOp::Delete { name } => match engine.libraries.libs.remove(&name) {
                Some(_) => Ok(Reply::Ok),
                None => Err(other("ERR Library not found".into())),
            },
            FunctionOp::Flush => {
                engine.libraries.libs.clear();
                Ok(Reply::Ok)
            }
            FunctionOp::Restore { payload, policy } => {
                let codes = undump(&payload)?;
                // All or nothing: built aside, swapped in when every library loaded.
                let mut libraries = match policy {
                    RestorePolicy::Flush => Libraries::default(),
                    RestorePolicy::Append | RestorePolicy::Replace => engine.libraries.clone(),
                };
                for code in codes {
                    let lib = crate::script::load_library(&code).map_err(other)?;
                    if policy == RestorePolicy::Replace {
                        libraries.libs.remove(&lib.name);
                    } else if libraries.libs.contains_key(&lib.name) {
                        // RESTORE names it without LOAD's quotes, as Redis does.
                        return Err(other(format!(
                            "ERR Library {} already exists",
                            String::from_utf8_lossy(&lib.name)
                        )));
                    }
                    libraries.insert(lib, false)?;
                }
                engine.libraries = libraries;
                Ok(Reply::Ok)
            }
        }
    }
}

fn text(s: &'static str) -> Reply {
    Reply::Bulk(Bytes::from_static(s.as_bytes()))
}

impl FunctionQuery {
    pub(crate) fn run(&self, engine: &Engine) -> Reply {
        match self {
            FunctionQuery::List { pattern, with_code } => Reply::Array(
                engine
                    .libraries
                    .iter()
                    .filter(|lib| {
                        pattern
                            .as_ref()
                            .is_none_or(|p| crate::glob::glob_match(p, &lib.name, false))
                    })
                    .map(|lib| {
                        let mut fields = vec![
                            (text("library_name"), Reply::Bulk(lib.name.clone())),
                            (text("engine"), text("LUA")),
                            (
                                text("functions"),
                                Reply::Array(
                                    lib.functions
                                        .iter()
                                        .map(|f| {
                                            Reply::Map(vec![
                                                (text("name"), Reply::Bulk(f.name.clone())),
                                                (
                                                    text("description"),
                                                    Reply::opt_bulk(f.description.clone()),
                                                ),
                                                (
                                                    text("flags"),
                                                    Reply::Set(
                                                        f.flags
                                                            .iter()
                                                            .map(|flag| {
                                                                Reply::StatusText(
                                                                    String::from_utf8_lossy(flag)
                                                                        .into_owned(),
                                                                )
                                                            })
                                                            .collect(),
                                                    ),
                                                ),
                                            ])
                                        })
                                        .collect(),
                                ),
                            ),
                        ];
                        if *with_code {
                            fields.push((text("library_code"), Reply::Bulk(lib.code.clone())));
                        }
                        Reply::Map(fields)
                    })
                    .collect(),
            ),
            FunctionQuery::Dump => Reply::Bulk(dump(&engine.libraries)),
            // A function running now is seen only through SCRIPT KILL / FUNCTION
            // KILL and the busy reply: `running_script` stays nil.
            FunctionQuery::Stats => Reply::Map(vec![
                (text("running_script"), Reply::Nil),
                (
                    text("engines"),
                    Reply::Map(vec![(
                        text("LUA"),
                        Reply::Map(vec![
                            (
                                text("libraries_count"),
                                Reply::Int(engine.libraries.len() as i64),
                            ),
                            (
                                text("functions_count"),
                                Reply::Int(engine.libraries.function_count() as i64),
                            ),
                        ]),
                    )]),
                ),
            ]),
        }
    }
}
