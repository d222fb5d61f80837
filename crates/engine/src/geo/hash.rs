//! Redis's geohash arithmetic, operation for operation, so positions, distances and
//! search areas come out bit-identical: 26 bits per axis interleaved into a 52-bit
//! sorted-set score, latitudes limited to ±85.05112878 (Web Mercator), the 3×3 boxes
//! a search scans, and the haversine distance on Redis's Earth radius. `f64::sin` and
//! friends call the platform's libm, as the C code does.

/// Bits per axis of a stored position.
pub const STEP_MAX: u8 = 26;
/// Southernmost latitude that can be stored.
pub const LAT_MIN: f64 = -85.05112878;
/// Northernmost latitude that can be stored.
pub const LAT_MAX: f64 = 85.05112878;
/// Westernmost longitude.
pub const LONG_MIN: f64 = -180.0;
/// Easternmost longitude.
pub const LONG_MAX: f64 = 180.0;

const D_R: f64 = std::f64::consts::PI / 180.0;
const EARTH_RADIUS_IN_METERS: f64 = 6372797.560856;
const MERCATOR_MAX: f64 = 20037726.37;

/// A geohash: `step` bits per axis, latitude bits at even positions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Bits {
    /// Interleaved bits.
    pub bits: u64,
    /// Bits per axis (0 with `bits == 0` marks a box not to scan).
    pub step: u8,
}

impl Bits {
    fn is_zero(&self) -> bool {
        self.bits == 0 && self.step == 0
    }
}

/// A coordinate range.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Range {
    /// Lower bound.
    pub min: f64,
    /// Upper bound.
    pub max: f64,
}

/// The longitude and latitude ranges of a geohash cell.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Area {
    /// Longitudes.
    pub longitude: Range,
    /// Latitudes.
    pub latitude: Range,
}

const WGS84_LONG: Range = Range {
    min: LONG_MIN,
    max: LONG_MAX,
};
const WGS84_LAT: Range = Range {
    min: LAT_MIN,
    max: LAT_MAX,
};

fn deg_rad(angle: f64) -> f64 {
    angle * D_R
}

fn rad_deg(angle: f64) -> f64 {
    angle / D_R
}

fn interleave64(xlo: u32, ylo: u32) -> u64 {
    const B: [u64; 5] = [
        0x5555555555555555,
        0x3333333333333333,
        0x0F0F0F0F0F0F0F0F,
        0x00FF00FF00FF00FF,
        0x0000FFFF0000FFFF,
    ];
    const S: [u32; 5] = [1, 2, 4, 8, 16];
    let (mut x, mut y) = (u64::from(xlo), u64::from(ylo));
    for i in (0..5).rev() {
        x = (x | (x << S[i])) & B[i];
        y = (y | (y << S[i])) & B[i];
    }
    x | (y << 1)
}

fn deinterleave64(interleaved: u64) -> u64 {
    const B: [u64; 6] = [
        0x5555555555555555,
        0x3333333333333333,
        0x0F0F0F0F0F0F0F0F,
        0x00FF00FF00FF00FF,
        0x0000FFFF0000FFFF,
        0x00000000FFFFFFFF,
    ];
    const S: [u32; 6] = [0, 1, 2, 4, 8, 16];
    let (mut x, mut y) = (interleaved, interleaved >> 1);
    for i in 0..6 {
        x = (x | (x >> S[i])) & B[i];
        y = (y | (y >> S[i])) & B[i];
    }
    x | (y << 32)
}

/// `geohashEncode`: `None` outside the storable area or the given ranges.
pub fn encode(
    long_range: Range,
    lat_range: Range,
    longitude: f64,
    latitude: f64,
    step: u8,
) -> Option<Bits> {
    if !(LONG_MIN..=LONG_MAX).contains(&longitude) || !(LAT_MIN..=LAT_MAX).contains(&latitude) {
        return None;
    }
    if latitude < lat_range.min
        || latitude > lat_range.max
        || longitude < long_range.min
        || longitude > long_range.max
    {
        return None;
    }
    let scale = (1u64 << step) as f64;
    let lat_offset = (latitude - lat_range.min) / (lat_range.max - lat_range.min) * scale;
    let long_offset = (longitude - long_range.min) / (long_range.max - long_range.min) * scale;
    // C converts the offsets to uint32_t by truncation; they lie in [0, 2^step].
    Some(Bits {
        bits: interleave64(lat_offset as u32, long_offset as u32),
        step,
    })
}

/// The 52-bit score of a position (`geohashEncodeWGS84` at full precision, aligned).
pub fn score_of(longitude: f64, latitude: f64) -> Option<f64> {
    encode(WGS84_LONG, WGS84_LAT, longitude, latitude, STEP_MAX).map(|h| align52(h) as f64)
}

/// `geohashAlign52Bits`.
pub fn align52(hash: Bits) -> u64 {
    hash.bits << (52 - u32::from(hash.step) * 2)
}

/// `geohashDecode` over the storable ranges.
pub fn decode(hash: Bits) -> Option<Area> {
    if hash.is_zero() {
        return None;
    }
    let sep = deinterleave64(hash.bits);
    let lat_scale = WGS84_LAT.max - WGS84_LAT.min;
    let long_scale = WGS84_LONG.max - WGS84_LONG.min;
    let ilato = sep as u32;
    let ilono = (sep >> 32) as u32;
    let div = (1u64 << hash.step) as f64;
    Some(Area {
        latitude: Range {
            min: WGS84_LAT.min + (f64::from(ilato) / div) * lat_scale,
            max: WGS84_LAT.min + (f64::from(ilato.wrapping_add(1)) / div) * lat_scale,
        },
        longitude: Range {
            min: WGS84_LONG.min + (f64::from(ilono) / div) * long_scale,
            max: WGS84_LONG.min + (f64::from(ilono.wrapping_add(1)) / div) * long_scale,
        },
    })
}

/// The C conversion `(uint64_t)score` as x86-64 compiles it: truncation, negative
/// values wrapping, out-of-range values giving the "indefinite" integer.
fn c_double_to_u64(score: f64) -> u64 {
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    let truncated = |x: f64| -> u64 {
        if !(-TWO_63..TWO_63).contains(&x) {
            1 << 63
        } else {
            x as i64 as u64
        }
    };
    if score < TWO_63 {
        truncated(score)
    } else {
        truncated(score - TWO_63) ^ (1 << 63)
    }
}

/// A stored score's position `[longitude, latitude]`: the centre of its cell, clamped
/// to the storable area (`decodeGeohash`). Any score decodes, as in Redis.
pub fn position(score: f64) -> [f64; 2] {
    let hash = Bits {
        bits: c_double_to_u64(score),
        step: STEP_MAX,
    };
    let area = decode(hash).expect("a full-precision hash is never the zero box");
    let lon = ((area.longitude.min + area.longitude.max) / 2.0).clamp(LONG_MIN, LONG_MAX);
    let lat = ((area.latitude.min + area.latitude.max) / 2.0).clamp(LAT_MIN, LAT_MAX);
    [lon, lat]
}

/// GEOHASH's 11-character standard geohash of a stored score (latitudes ±90).
pub fn standard_hash(score: f64) -> [u8; 11] {
    const ALPHABET: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";
    let [lon, lat] = position(score);
    let hash = encode(
        WGS84_LONG,
        Range {
            min: -90.0,
            max: 90.0,
        },
        lon,
        lat,
        26,
    )
    .unwrap_or_default();
    let mut out = [b'0'; 11];
    for (i, c) in out.iter_mut().enumerate().take(10) {
        *c = ALPHABET[((hash.bits >> (52 - (i + 1) * 5)) & 0x1f) as usize];
    }
    out
}

/// Latitude-only distance (`geohashGetLatDistance`).
pub fn lat_distance(lat1: f64, lat2: f64) -> f64 {
    EARTH_RADIUS_IN_METERS * (deg_rad(lat2) - deg_rad(lat1)).abs()
}

/// Haversine distance in metres (`geohashGetDistance`).
pub fn distance(lon1: f64, lat1: f64, lon2: f64, lat2: f64) -> f64 {
    let lon1r = deg_rad(lon1);
    let lon2r = deg_rad(lon2);
    let v = ((lon2r - lon1r) / 2.0).sin();
    if v == 0.0 {
        return lat_distance(lat1, lat2);
    }
    let lat1r = deg_rad(lat1);
    let lat2r = deg_rad(lat2);
    let u = ((lat2r - lat1r) / 2.0).sin();
    let a = u * u + lat1r.cos() * lat2r.cos() * v * v;
    2.0 * EARTH_RADIUS_IN_METERS * a.sqrt().asin()
}

/// A search area, in the search's unit (metres = unit × metres per unit, multiplied
/// where Redis multiplies so every rounding is the same).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Shape {
    /// Within `radius` of the centre.
    Radius(f64),
    /// Within an axis-aligned box.
    Box {
        /// East-west extent.
        width: f64,
        /// North-south extent.
        height: f64,
    },
}

impl Shape {
    /// The distance in metres from the centre when the point is inside
    /// (`geoWithinShape`); `unit` is metres per unit.
    pub fn contains(&self, unit: f64, center: [f64; 2], point: [f64; 2]) -> Option<f64> {
        let [x1, y1] = center;
        let [x2, y2] = point;
        match *self {
            Shape::Radius(radius) => {
                let d = distance(x1, y1, x2, y2);
                (d <= radius * unit).then_some(d)
            }
            Shape::Box { width, height } => {
                let (width_m, height_m) = (width * unit, height * unit);
                if lat_distance(y2, y1) > height_m / 2.0 {
                    return None;
                }
                if distance(x2, y2, x1, y2) > width_m / 2.0 {
                    return None;
                }
                Some(distance(x1, y1, x2, y2))
            }
        }
    }

    /// Half the east-west and north-south extents, in metres.
    fn half_extents(&self, unit: f64) -> (f64, f64) {
        match *self {
            Shape::Radius(r) => (unit * r, unit * r),
            Shape::Box { width, height } => (unit * (width / 2.0), unit * (height / 2.0)),
        }
    }

    /// The distance from the centre to the farthest corner, in metres.
    fn radius_meters(&self, unit: f64) -> f64 {
        let r = match *self {
            Shape::Radius(r) => r,
            Shape::Box { width, height } => {
                ((width / 2.0) * (width / 2.0) + (height / 2.0) * (height / 2.0)).sqrt()
            }
        };
        r * unit
    }
}

fn estimate_steps(mut range_meters: f64, lat: f64) -> u8 {
    if range_meters == 0.0 {
        return 26;
    }
    let mut step: i32 = 1;
    while range_meters < MERCATOR_MAX {
        range_meters *= 2.0;
        step += 1;
    }
    step -= 2;
    if !(-66.0..=66.0).contains(&lat) {
        step -= 1;
        if !(-80.0..=80.0).contains(&lat) {
            step -= 1;
        }
    }
    step.clamp(1, 26) as u8
}

/// `[min_lon, min_lat, max_lon, max_lat]` around the centre (`geohashBoundingBox`).
fn bounding_box(center: [f64; 2], shape: &Shape, unit: f64) -> [f64; 4] {
    let [longitude, latitude] = center;
    let (width, height) = shape.half_extents(unit);
    let lat_delta = rad_deg(height / EARTH_RADIUS_IN_METERS);
    let long_delta_top =
        rad_deg(width / EARTH_RADIUS_IN_METERS / deg_rad(latitude + lat_delta).cos());
    let long_delta_bottom =
        rad_deg(width / EARTH_RADIUS_IN_METERS / deg_rad(latitude - lat_delta).cos());
    let southern = latitude < 0.0;
    let long_delta = if southern {
        long_delta_bottom
    } else {
        long_delta_top
    };
    [
        longitude - long_delta,
        latitude - lat_delta,
        longitude + long_delta,
        latitude + lat_delta,
    ]
}

fn move_x(hash: &mut Bits, d: i8) {
    let shift = 64 - u32::from(hash.step) * 2;
    let mut x = hash.bits & 0xaaaaaaaaaaaaaaaa;
    let y = hash.bits & 0x5555555555555555;
    let zz = 0x5555555555555555u64 >> shift;
    if d > 0 {
        x = x.wrapping_add(zz + 1);
    } else {
        x |= zz;
        x = x.wrapping_sub(zz + 1);
    }
    x &= 0xaaaaaaaaaaaaaaaau64 >> shift;
    hash.bits = x | y;
}

fn move_y(hash: &mut Bits, d: i8) {
    let shift = 64 - u32::from(hash.step) * 2;
    let x = hash.bits & 0xaaaaaaaaaaaaaaaa;
    let mut y = hash.bits & 0x5555555555555555;
    let zz = 0xaaaaaaaaaaaaaaaau64 >> shift;
    if d > 0 {
        y = y.wrapping_add(zz + 1);
    } else {
        y |= zz;
        y = y.wrapping_sub(zz + 1);
    }
    y &= 0x5555555555555555u64 >> shift;
    hash.bits = x | y;
}

/// The boxes a search scans, in Redis's order: the centre's cell, then north, south,
/// east, west, north-east, north-west, south-east, south-west; a box that cannot hold
/// a match is zero (skipped).
pub fn search_boxes(center: [f64; 2], shape: &Shape, unit: f64) -> [Bits; 9] {
    let [min_lon, min_lat, max_lon, max_lat] = bounding_box(center, shape, unit);
    let [longitude, latitude] = center;
    let mut steps = estimate_steps(shape.radius_meters(unit), latitude);
    let cell = |steps: u8| {
        let hash = encode(WGS84_LONG, WGS84_LAT, longitude, latitude, steps).unwrap_or_default();
        // C encodes into a struct whose step is set even when the position is
        // refused; the centre given here is always storable.
        let hash = Bits {
            step: steps,
            ..hash
        };
        let mut n = [hash; 9];
        // north, south, east, west, north-east, north-west, south-east, south-west
        move_y(&mut n[1], 1);
        move_y(&mut n[2], -1);
        move_x(&mut n[3], 1);
        move_x(&mut n[4], -1);
        move_x(&mut n[5], 1);
        move_y(&mut n[5], 1);
        move_x(&mut n[6], -1);
        move_y(&mut n[6], 1);
        move_x(&mut n[7], 1);
        move_y(&mut n[7], -1);
        move_x(&mut n[8], -1);
        move_y(&mut n[8], -1);
        n
    };
    let mut boxes = cell(steps);
    let area = |b: Bits| {
        decode(b).unwrap_or(Area {
            longitude: Range { min: 0.0, max: 0.0 },
            latitude: Range { min: 0.0, max: 0.0 },
        })
    };
    let decrease = area(boxes[1]).latitude.max < max_lat
        || area(boxes[2]).latitude.min > min_lat
        || area(boxes[3]).longitude.max < max_lon
        || area(boxes[4]).longitude.min > min_lon;
    if steps > 1 && decrease {
        steps -= 1;
        boxes = cell(steps);
    }
    if steps >= 2 {
        let own = area(boxes[0]);
        let zero = |boxes: &mut [Bits; 9], which: [usize; 3]| {
            which.iter().for_each(|&i| boxes[i] = Bits::default());
        };
        if own.latitude.min < min_lat {
            zero(&mut boxes, [2, 8, 7]);
        }
        if own.latitude.max > max_lat {
            zero(&mut boxes, [1, 5, 6]);
        }
        if own.longitude.min < min_lon {
            zero(&mut boxes, [4, 8, 6]);
        }
        if own.longitude.max > max_lon {
            zero(&mut boxes, [3, 7, 5]);
        }
    }
    boxes
}

/// The score range `[min, max)` of the positions inside a box.
pub fn score_range(hash: Bits) -> (f64, f64) {
    let min = align52(hash);
    let max = align52(Bits {
        bits: hash.bits + 1,
        ..hash
    });
    (min as f64, max as f64)
}

/// Redis's distance text: rounded to 4 decimals (`llrint`, half to even) and printed
/// with exactly 4 (`fixedpoint_d2string`).
pub fn distance_text(d: f64) -> String {
    if d == 0.0 {
        return "0.0000".to_owned();
    }
    let scaled = (d * 10_000.0).round_ties_even();
    let negative = scaled < 0.0;
    let value = scaled.abs() as u64;
    format!(
        "{}{}.{:04}",
        if negative { "-" } else { "" },
        value / 10_000,
        value % 10_000
    )
}
