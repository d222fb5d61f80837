//! Geo commands: GEOADD (a ZADD of geohash scores), GEOPOS, GEOHASH, GEODIST,
//! GEORADIUS[_RO], GEORADIUSBYMEMBER[_RO], GEOSEARCH and GEOSEARCHSTORE.
//!
//! Redis checks the key's type before it reads a search's arguments, so argument errors
//! of a search do not answer here: they travel in the [`GeoSearch`] and the engine
//! answers them after the type (and a FROMMEMBER position), in Redis 7.0's order.

use bytes::Bytes;
#[cfg(test)]
use okapi_engine::EngineError;
use okapi_engine::geo::hash::{self, Shape};
use okapi_engine::geo::{GeoCenter, GeoOp, GeoQuery, GeoSearch, GeoSort};
use okapi_engine::zsets::{AddFlags, ZSetOp};
use okapi_engine::{OpKind, QueryKind};
use okapi_types::num::{parse_f64, parse_i64};

use crate::action::Action;
use crate::args::is;
use crate::error::CommandError;
use crate::spec::flags::*;
use crate::spec::{CommandSpec, Ctx, Keys, command, keys};
use crate::{read, write};

const G: &str = "geo";
const W: &[&str] = &["@write", "@geo", "@slow"];
const R: &[&str] = &["@read", "@geo", "@slow"];

/// Geo commands.
pub const COMMANDS: &[CommandSpec] = &[
    command(
        "geoadd",
        -5,
        WRITE | DENYOOM,
        keys(1, 1, 1),
        W,
        G,
        "Adds one or more members to a geospatial index. The key is created if it doesn't exist.",
        geoadd,
    ),
    command(
        "geodist",
        -4,
        READONLY,
        keys(1, 1, 1),
        R,
        G,
        "Returns the distance between two members of a geospatial index.",
        geodist,
    ),
    command(
        "geohash",
        -2,
        READONLY,
        keys(1, 1, 1),
        R,
        G,
        "Returns members from a geospatial index as geohash strings.",
        geohash,
    ),
    command(
        "geopos",
        -2,
        READONLY,
        keys(1, 1, 1),
        R,
        G,
        "Returns the longitude and latitude of members from a geospatial index.",
        geopos,
    ),
    command(
        "georadius",
        -6,
        WRITE | DENYOOM | MOVABLE_KEYS,
        Keys::Movable {
            first: 1,
            last: 1,
            step: 1,
            find: radius_keys,
        },
        W,
        G,
        "Queries a geospatial index for members within a distance from a coordinate, optionally stores the result.",
        georadius,
    ),
    command(
        "georadius_ro",
        -6,
        READONLY,
        keys(1, 1, 1),
        R,
        G,
        "Returns members from a geospatial index that are within a distance from a coordinate.",
        georadius_ro,
    ),
    command(
        "georadiusbymember",
        -5,
        WRITE | DENYOOM | MOVABLE_KEYS,
        Keys::Movable {
            first: 1,
            last: 1,
            step: 1,
            find: radius_keys,
        },
        W,
        G,
        "Queries a geospatial index for members within a distance from a member, optionally stores the result.",
        georadiusbymember,
    ),
    command(
        "georadiusbymember_ro",
        -5,
        READONLY,
        keys(1, 1, 1),
        R,
        G,
        "Returns members from a geospatial index that are within a distance from a member.",
        georadiusbymember_ro,
    ),
    command(
        "geosearch",
        -7,
        READONLY,
        keys(1, 1, 1),
        R,
        G,
        "Queries a geospatial index for members inside an area of a box or a circle.",
        geosearch,
    ),
    command(
        "geosearchstore",
        -8,
        WRITE | DENYOOM,
        keys(1, 2, 1),
        W,
        G,
        "Queries a geospatial index for members inside an area of a box or a circle, optionally stores the result.",
        geosearchstore,
    ),
];

/// The source key and a STORE/STOREDIST destination (`georadiusGetKeys`: the last one
/// given wins, as in the command).
pub(crate) fn radius_keys(argv: &[Bytes]) -> Vec<usize> {
    let mut positions = vec![1];
    let mut stored = None;
    let mut i = 5;
    while i < argv.len() {
        if (is(&argv[i], "STORE") || is(&argv[i], "STOREDIST")) && i + 1 < argv.len() {
            stored = Some(i + 1);
            i += 1;
        }
        i += 1;
    }
    positions.extend(stored);
    positions
}

fn geoadd(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    let key = a[0].clone();
    let mut flags = AddFlags::default();
    let mut at = 1;
    while let Some(word) = a.get(at) {
        if is(word, "NX") {
            flags.nx = true;
        } else if is(word, "XX") {
            flags.xx = true;
        } else if is(word, "CH") {
            flags.ch = true;
        } else {
            break;
        }
        at += 1;
    }
    let rest = &a[at..];
    // No triple at all is ZADD's syntax error, which GEOADD forwards to.
    if rest.is_empty() || !rest.len().is_multiple_of(3) || (flags.nx && flags.xx) {
        return Err(CommandError::Syntax);
    }
    let mut pairs = Vec::with_capacity(rest.len() / 3);
    for triple in rest.chunks(3) {
        let [lon, lat] = lon_lat(&triple[0], &triple[1])?;
        let score = hash::score_of(lon, lat).ok_or_else(|| invalid_pair(lon, lat))?;
        pairs.push((score, triple[2].clone()));
    }
    Ok(write(ctx, OpKind::ZSet(ZSetOp::Add { key, flags, pairs })))
}

fn geodist(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    let unit = match a.len() {
        3 => 1.0,
        4 => unit(&a[3])?,
        _ => return Err(CommandError::Syntax),
    };
    Ok(read(
        ctx,
        QueryKind::Geo(GeoQuery::Dist {
            key: a[0].clone(),
            a: a[1].clone(),
            b: a[2].clone(),
            unit,
        }),
    ))
}

fn geohash(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    Ok(read(
        ctx,
        QueryKind::Geo(GeoQuery::Hash {
            key: a[0].clone(),
            members: a[1..].to_vec(),
        }),
    ))
}

fn geopos(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    Ok(read(
        ctx,
        QueryKind::Geo(GeoQuery::Pos {
            key: a[0].clone(),
            members: a[1..].to_vec(),
        }),
    ))
}

/// Which command a search is, for the options it accepts (`georadiusGeneric`'s flags).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Variant {
    /// GEORADIUS / GEORADIUS_RO.
    Radius { store_ok: bool },
    /// GEORADIUSBYMEMBER / _RO.
    ByMember { store_ok: bool },
    /// GEOSEARCH.
    Search,
    /// GEOSEARCHSTORE.
    SearchStore,
}

fn georadius(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    search(ctx, a, Variant::Radius { store_ok: true })
}

fn georadius_ro(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    search(ctx, a, Variant::Radius { store_ok: false })
}

fn georadiusbymember(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    search(ctx, a, Variant::ByMember { store_ok: true })
}

fn georadiusbymember_ro(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    search(ctx, a, Variant::ByMember { store_ok: false })
}

fn geosearch(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    search(ctx, a, Variant::Search)
}

fn geosearchstore(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    search(ctx, a, Variant::SearchStore)
}

/// The parse of one search, up to the first argument error.
struct Parsed {
    search: GeoSearch,
    store: Option<(Bytes, bool)>,
}

fn search(ctx: &Ctx, a: &[Bytes], variant: Variant) -> Result<Action, CommandError> {
    let (key, base) = match variant {
        Variant::SearchStore => (a[1].clone(), 2),
        Variant::Radius { .. } => (a[0].clone(), 5),
        Variant::ByMember { .. } => (a[0].clone(), 4),
        Variant::Search => (a[0].clone(), 1),
    };
    let mut parsed = Parsed {
        search: GeoSearch {
            center: None,
            shape: None,
            unit: 1.0,
            sort: GeoSort::Unsorted,
            count: 0,
            any: false,
            with_dist: false,
            with_hash: false,
            with_coord: false,
            error_if_found: None,
            error: None,
        },
        store: match variant {
            Variant::SearchStore => Some((a[0].clone(), false)),
            _ => None,
        },
    };
    if let Err(e) = parse_search(a, base, variant, &mut parsed) {
        parsed.search.error = Some(e.into_engine());
    }
    Ok(match parsed.store {
        // An argument error writes nothing: it is answered as a read.
        Some((dst, store_dist)) if parsed.search.error.is_none() => write(
            ctx,
            OpKind::Geo(if variant == Variant::SearchStore {
                GeoOp::SearchStore {
                    dst,
                    key,
                    search: Box::new(parsed.search),
                    store_dist,
                }
            } else {
                GeoOp::RadiusStore {
                    dst,
                    key,
                    search: Box::new(parsed.search),
                    store_dist,
                }
            }),
        ),
        _ => read(
            ctx,
            QueryKind::Geo(GeoQuery::Search {
                key,
                search: Box::new(parsed.search),
            }),
        ),
    })
}

fn parse_search(
    a: &[Bytes],
    base: usize,
    variant: Variant,
    p: &mut Parsed,
) -> Result<(), CommandError> {
    let s = &mut p.search;
    match variant {
        Variant::Radius { .. } => {
            let [lon, lat] = checked_lon_lat(&a[1], &a[2])?;
            s.center = Some(GeoCenter::LonLat(lon, lat));
            let (radius, unit) = distance(&a[3], &a[4])?;
            s.shape = Some(Shape::Radius(radius));
            s.unit = unit;
        }
        Variant::ByMember { .. } => {
            s.center = Some(GeoCenter::Member(a[1].clone()));
            // Read only when the key exists, after the member is found.
            match distance(&a[2], &a[3]) {
                Ok((radius, unit)) => {
                    s.shape = Some(Shape::Radius(radius));
                    s.unit = unit;
                }
                Err(e) => s.error_if_found = Some(e.into_engine()),
            }
        }
        Variant::Search | Variant::SearchStore => {}
    }
    let store_ok = matches!(
        variant,
        Variant::Radius { store_ok: true } | Variant::ByMember { store_ok: true }
    );
    let searching = matches!(variant, Variant::Search | Variant::SearchStore);
    let (mut from_member, mut from_lonlat, mut by_radius, mut by_box) =
        (false, false, false, false);
    let opts = &a[base..];
    let mut i = 0;
    while i < opts.len() {
        let arg = &opts[i];
        let left = opts.len() - i - 1;
        if is(arg, "WITHDIST") {
            s.with_dist = true;
        } else if is(arg, "WITHHASH") {
            s.with_hash = true;
        } else if is(arg, "WITHCOORD") {
            s.with_coord = true;
        } else if is(arg, "ANY") {
            s.any = true;
        } else if is(arg, "ASC") {
            s.sort = GeoSort::Asc;
        } else if is(arg, "DESC") {
            s.sort = GeoSort::Desc;
        } else if is(arg, "COUNT") && left >= 1 {
            let count = parse_i64(&opts[i + 1]).ok_or(CommandError::NotInteger)?;
            if count <= 0 {
                return Err(CommandError::other("ERR COUNT must be > 0"));
            }
            s.count = count as u64;
            i += 1;
        } else if (is(arg, "STORE") || is(arg, "STOREDIST")) && left >= 1 && store_ok {
            p.store = Some((opts[i + 1].clone(), is(arg, "STOREDIST")));
            i += 1;
        } else if is(arg, "STOREDIST") && variant == Variant::SearchStore {
            p.store = p.store.take().map(|(dst, _)| (dst, true));
        } else if is(arg, "FROMMEMBER") && left >= 1 && searching && !from_lonlat {
            s.center = Some(GeoCenter::Member(opts[i + 1].clone()));
            from_member = true;
            i += 1;
        } else if is(arg, "FROMLONLAT") && left >= 2 && searching && !from_member {
            let [lon, lat] = checked_lon_lat(&opts[i + 1], &opts[i + 2])?;
            s.center = Some(GeoCenter::LonLat(lon, lat));
            from_lonlat = true;
            i += 2;
        } else if is(arg, "BYRADIUS") && left >= 2 && searching && !by_box {
            let (radius, unit) = distance(&opts[i + 1], &opts[i + 2])?;
            s.shape = Some(Shape::Radius(radius));
            s.unit = unit;
            by_radius = true;
            i += 2;
        } else if is(arg, "BYBOX") && left >= 3 && searching && !by_radius {
            let width = parse_f64(&opts[i + 1])
                .ok_or_else(|| CommandError::other("ERR need numeric width"))?;
            let height = parse_f64(&opts[i + 2])
                .ok_or_else(|| CommandError::other("ERR need numeric height"))?;
            if width < 0.0 || height < 0.0 {
                return Err(CommandError::other(
                    "ERR height or width cannot be negative",
                ));
            }
            s.unit = unit(&opts[i + 3])?;
            s.shape = Some(Shape::Box { width, height });
            by_box = true;
            i += 3;
        } else {
            return Err(CommandError::Syntax);
        }
        i += 1;
    }
    if p.store.is_some() && (s.with_dist || s.with_hash || s.with_coord) {
        return Err(CommandError::other(format!(
            "ERR {} is not compatible with WITHDIST, WITHHASH and WITHCOORD options",
            if variant == Variant::SearchStore {
                "GEOSEARCHSTORE"
            } else {
                "STORE option in GEORADIUS"
            }
        )));
    }
    // Redis names the command as the client spelled it; okapi's parsers see arguments
    // only, so it names it in capitals, as clients send it.
    let name = if variant == Variant::SearchStore {
        "GEOSEARCHSTORE"
    } else {
        "GEOSEARCH"
    };
    if searching && !(from_member || from_lonlat) {
        return Err(CommandError::other(format!(
            "ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for {name}"
        )));
    }
    if searching && !(by_radius || by_box) {
        return Err(CommandError::other(format!(
            "ERR exactly one of BYRADIUS and BYBOX can be specified for {name}"
        )));
    }
    if s.any && s.count == 0 {
        return Err(CommandError::other(
            "ERR the ANY argument requires COUNT argument",
        ));
    }
    Ok(())
}

/// Two floats (`extractLongLatOrReply`'s parse, before its range check).
fn lon_lat(lon: &[u8], lat: &[u8]) -> Result<[f64; 2], CommandError> {
    Ok([
        parse_f64(lon).ok_or(CommandError::NotFloat)?,
        parse_f64(lat).ok_or(CommandError::NotFloat)?,
    ])
}

/// A longitude/latitude pair inside the storable area.
fn checked_lon_lat(lon: &[u8], lat: &[u8]) -> Result<[f64; 2], CommandError> {
    let [lon, lat] = lon_lat(lon, lat)?;
    if !(hash::LONG_MIN..=hash::LONG_MAX).contains(&lon)
        || !(hash::LAT_MIN..=hash::LAT_MAX).contains(&lat)
    {
        return Err(invalid_pair(lon, lat));
    }
    Ok([lon, lat])
}

fn invalid_pair(lon: f64, lat: f64) -> CommandError {
    CommandError::other(format!(
        "ERR invalid longitude,latitude pair {lon:.6},{lat:.6}"
    ))
}

/// Metres per unit (`extractUnitOrReply`).
fn unit(arg: &[u8]) -> Result<f64, CommandError> {
    Ok(if is(arg, "M") {
        1.0
    } else if is(arg, "KM") {
        1000.0
    } else if is(arg, "FT") {
        0.3048
    } else if is(arg, "MI") {
        1609.34
    } else {
        return Err(CommandError::other(
            "ERR unsupported unit provided. please use M, KM, FT, MI",
        ));
    })
}

/// A radius and its unit (`extractDistanceOrReply`).
fn distance(radius: &[u8], unit_arg: &[u8]) -> Result<(f64, f64), CommandError> {
    let radius = parse_f64(radius).ok_or_else(|| CommandError::other("ERR need numeric radius"))?;
    if radius < 0.0 {
        return Err(CommandError::other("ERR radius cannot be negative"));
    }
    Ok((radius, unit(unit_arg)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(words: &[&str]) -> Vec<Bytes> {
        words
            .iter()
            .map(|w| Bytes::copy_from_slice(w.as_bytes()))
            .collect()
    }

    #[test]
    fn store_destinations_are_keys_and_the_last_one_wins() {
        let a = argv(&[
            "georadius",
            "k",
            "1",
            "2",
            "3",
            "km",
            "STORE",
            "a",
            "STOREDIST",
            "b",
        ]);
        assert_eq!(radius_keys(&a), vec![1, 9]);
        assert_eq!(
            radius_keys(&argv(&["georadius", "k", "1", "2", "3", "km"])),
            vec![1]
        );
    }

    #[test]
    fn an_argument_error_waits_for_the_type_check() {
        let ctx = Ctx {
            db: okapi_types::Namespace(0),
            now_ms: 0,
            random: 0,
            databases: 16,
            sharded: false,
        };
        let action = georadius(&ctx, &argv(&["k", "200", "0", "1", "km", "STORE", "d"]))
            .expect("parses into a deferred error");
        let Action::Read(query) = action else {
            panic!("an erroneous search writes nothing");
        };
        let QueryKind::Geo(GeoQuery::Search { search, .. }) = query.kind else {
            panic!("a search");
        };
        assert_eq!(
            search.error,
            Some(EngineError::Other(
                "ERR invalid longitude,latitude pair 200.000000,0.000000".to_owned()
            ))
        );
    }
}
