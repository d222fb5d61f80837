//! Geo commands' reads and the GEORADIUS/GEOSEARCHSTORE op. Positions live in sorted
//! sets as 52-bit geohash scores (GEOADD is a ZADD, built by the command layer), so a
//! geo index is an ordinary sorted set; [`hash`] holds Redis's geohash arithmetic.
//! Searches scan the same boxes in the same order as Redis, so unsorted results and
//! `COUNT … ANY` pick the same members.

pub mod hash;

use std::cmp::Ordering::Equal;

use bytes::Bytes;

use crate::engine::ApplyCtx;
use crate::error::EngineError;
use crate::keyspace::Keyspace;
use crate::reply::Reply;
use crate::zset::ZSetValue;
use hash::Shape;

/// Where a search is centred.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum GeoCenter {
    /// `[longitude, latitude]`, already checked to be storable.
    LonLat(f64, f64),
    /// A member's position (FROMMEMBER, GEORADIUSBYMEMBER).
    Member(Bytes),
}

/// Result order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum GeoSort {
    /// Scan order (boxes, then score).
    Unsorted,
    /// Nearest first.
    Asc,
    /// Farthest first.
    Desc,
}

/// A parsed GEORADIUS*/GEOSEARCH*. Argument errors Redis finds after looking the key up
/// travel along and are answered in Redis's order.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct GeoSearch {
    /// Centre (`None` only when an argument error comes first).
    pub center: Option<GeoCenter>,
    /// Area, in `unit`s (`None` only when an argument error comes first).
    pub shape: Option<Shape>,
    /// Metres per unit.
    pub unit: f64,
    /// Order.
    pub sort: GeoSort,
    /// COUNT (0: all).
    pub count: u64,
    /// COUNT … ANY: stop scanning after `count` matches.
    pub any: bool,
    /// WITHDIST.
    pub with_dist: bool,
    /// WITHHASH.
    pub with_hash: bool,
    /// WITHCOORD.
    pub with_coord: bool,
    /// GEORADIUSBYMEMBER's radius error: answered only when the key exists, after the
    /// member was found.
    pub error_if_found: Option<EngineError>,
    /// Any other argument error: answered once the key's type (and a FROMMEMBER seen
    /// before the error) was checked.
    pub error: Option<EngineError>,
}

/// Geo reads.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum GeoQuery {
    /// GEOPOS.
    Pos {
        /// Key.
        key: Bytes,
        /// Members.
        members: Vec<Bytes>,
    },
    /// GEOHASH.
    Hash {
        /// Key.
        key: Bytes,
        /// Members.
        members: Vec<Bytes>,
    },
    /// GEODIST.
    Dist {
        /// Key.
        key: Bytes,
        /// First member.
        a: Bytes,
        /// Second member.
        b: Bytes,
        /// Metres per unit of the reply.
        unit: f64,
    },
    /// GEORADIUS*, GEOSEARCH without a store.
    Search {
        /// Key.
        key: Bytes,
        /// The search (boxed: it is large, and every op is as large as the largest).
        search: Box<GeoSearch>,
    },
}

/// Geo writes.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum GeoOp {
    /// GEORADIUS … STORE/STOREDIST, GEOSEARCHSTORE: the matches as a sorted set under
    /// `dst`, scored by position or (`store_dist`) by distance in the search's unit.
    SearchStore {
        /// Destination.
        dst: Bytes,
        /// Source key.
        key: Bytes,
        /// The search (boxed: it is large, and every op is as large as the largest).
        search: Box<GeoSearch>,
        /// Score by distance.
        store_dist: bool,
    },
    /// GEORADIUS / GEORADIUSBYMEMBER … STORE/STOREDIST: as `SearchStore`, announced as
    /// `georadiusstore` (as Redis names it).
    RadiusStore {
        /// Destination.
        dst: Bytes,
        /// Source key.
        key: Bytes,
        /// The search.
        search: Box<GeoSearch>,
        /// Score by distance.
        store_dist: bool,
    },
}

/// One match.
struct Point {
    member: Bytes,
    score: f64,
    xy: [f64; 2],
    dist: f64,
}

impl GeoQuery {
    pub(crate) fn run(&self, ks: &Keyspace, now: u64) -> Result<Reply, EngineError> {
        match self {
            GeoQuery::Pos { key, members } => {
                let zset = ks.peek_as::<Box<ZSetValue>>(key, now)?;
                Ok(Reply::Array(
                    members
                        .iter()
                        .map(|m| match zset.and_then(|z| z.score(m)) {
                            None => Reply::NilArray,
                            Some(score) => {
                                let [lon, lat] = hash::position(score);
                                Reply::Array(vec![Reply::HumanDouble(lon), Reply::HumanDouble(lat)])
                            }
                        })
                        .collect(),
                ))
            }
            GeoQuery::Hash { key, members } => {
                let zset = ks.peek_as::<Box<ZSetValue>>(key, now)?;
                Ok(Reply::Array(
                    members
                        .iter()
                        .map(|m| match zset.and_then(|z| z.score(m)) {
                            None => Reply::Nil,
                            Some(score) => Reply::bulk(&hash::standard_hash(score)),
                        })
                        .collect(),
                ))
            }
            GeoQuery::Dist { key, a, b, unit } => {
                let Some(zset) = ks.peek_as::<Box<ZSetValue>>(key, now)? else {
                    return Ok(Reply::Nil);
                };
                let (Some(sa), Some(sb)) = (zset.score(a), zset.score(b)) else {
                    return Ok(Reply::Nil);
                };
                let [x1, y1] = hash::position(sa);
                let [x2, y2] = hash::position(sb);
                let d = hash::distance(x1, y1, x2, y2) / unit;
                Ok(Reply::Bulk(Bytes::from(hash::distance_text(d))))
            }
            GeoQuery::Search { key, search } => {
                let zset = ks.peek_as::<Box<ZSetValue>>(key, now)?;
                let Some(points) = matches(zset.map(|z| &**z), search)? else {
                    return Ok(Reply::Array(Vec::new()));
                };
                Ok(Reply::Array(
                    points.into_iter().map(|p| point_reply(p, search)).collect(),
                ))
            }
        }
    }
}

impl GeoOp {
    pub(crate) fn apply(self, ks: &mut Keyspace, ctx: &ApplyCtx) -> Result<Reply, EngineError> {
        let event = match &self {
            GeoOp::SearchStore { .. } => "geosearchstore",
            GeoOp::RadiusStore { .. } => "georadiusstore",
        };
        match self {
            GeoOp::SearchStore {
                dst,
                key,
                search,
                store_dist,
            }
            | GeoOp::RadiusStore {
                dst,
                key,
                search,
                store_dist,
            } => {
                let zset = ks.peek_as::<Box<ZSetValue>>(&key, ctx.now_ms)?;
                let points = matches(zset.map(|z| &**z), &search)?.unwrap_or_default();
                let mut result = ZSetValue::new(ks.seed());
                for p in points {
                    result.insert(p.member, if store_dist { p.dist } else { p.score });
                }
                Ok(crate::zsets::store_computed(ks, ctx, dst, result, event))
            }
        }
    }
}

/// The search's matches in reply order, or `None` when the key does not exist; the
/// argument errors Redis reports after looking at the key come out here.
fn matches(
    zset: Option<&ZSetValue>,
    search: &GeoSearch,
) -> Result<Option<Vec<Point>>, EngineError> {
    let center = match (&search.center, zset) {
        (Some(GeoCenter::Member(member)), Some(z)) => {
            let score = z.score(member).ok_or(EngineError::GeoMember)?;
            Some(hash::position(score))
        }
        (Some(GeoCenter::LonLat(lon, lat)), _) => Some([*lon, *lat]),
        _ => None,
    };
    if zset.is_some()
        && let Some(e) = &search.error_if_found
    {
        return Err(e.clone());
    }
    if let Some(e) = &search.error {
        return Err(e.clone());
    }
    let (Some(zset), Some(center), Some(shape)) = (zset, center, search.shape) else {
        return Ok(None);
    };
    let limit = if search.any { search.count as usize } else { 0 };
    let mut points = Vec::new();
    let boxes = hash::search_boxes(center, &shape, search.unit);
    let mut last_processed = 0;
    for (i, cell) in boxes.iter().enumerate() {
        if cell.bits == 0 && cell.step == 0 {
            continue;
        }
        // Redis skips a box equal to the last one scanned, though never compares
        // with the centre's (its "last processed" index starts at 0, meaning none).
        if last_processed != 0 && *cell == boxes[last_processed] {
            continue;
        }
        if limit != 0 && points.len() >= limit {
            break;
        }
        let (min, max) = hash::score_range(*cell);
        let start = zset.count_before(|e| e.score < min);
        for entry in zset.iter_from(start, false) {
            if entry.score >= max {
                break;
            }
            let xy = hash::position(entry.score);
            if let Some(dist) = shape.contains(search.unit, center, xy) {
                points.push(Point {
                    member: entry.member.clone(),
                    score: entry.score,
                    xy,
                    dist,
                });
            }
            if limit != 0 && points.len() >= limit {
                break;
            }
        }
        last_processed = i;
    }
    let sort = if search.count != 0 && search.sort == GeoSort::Unsorted && !search.any {
        GeoSort::Asc
    } else {
        search.sort
    };
    // Stable, as glibc's merge sort behind Redis's qsort.
    match sort {
        GeoSort::Unsorted => {}
        GeoSort::Asc => points.sort_by(|a, b| a.dist.partial_cmp(&b.dist).unwrap_or(Equal)),
        GeoSort::Desc => points.sort_by(|a, b| b.dist.partial_cmp(&a.dist).unwrap_or(Equal)),
    }
    if search.count != 0 {
        points.truncate(search.count as usize);
    }
    for p in &mut points {
        p.dist /= search.unit;
    }
    Ok(Some(points))
}

fn point_reply(p: Point, search: &GeoSearch) -> Reply {
    if !(search.with_dist || search.with_hash || search.with_coord) {
        return Reply::Bulk(p.member);
    }
    let mut row = vec![Reply::Bulk(p.member)];
    if search.with_dist {
        row.push(Reply::Bulk(Bytes::from(hash::distance_text(p.dist))));
    }
    if search.with_hash {
        row.push(Reply::Int(p.score as i64));
    }
    if search.with_coord {
        row.push(Reply::Array(vec![
            Reply::HumanDouble(p.xy[0]),
            Reply::HumanDouble(p.xy[1]),
        ]));
    }
    Reply::Array(row)
}

#[cfg(test)]
mod tests;
