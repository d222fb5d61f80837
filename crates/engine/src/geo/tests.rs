//! Expected values are redis-server 7.0.15's replies for the same commands.

use super::hash::*;

#[test]
fn positions_scores_and_hashes_match_redis() {
    let palermo = score_of(13.361389, 38.115556).expect("storable");
    let catania = score_of(15.087269, 37.502669).expect("storable");
    assert_eq!(palermo, 3479099956230698.0);
    assert_eq!(catania, 3479447370796909.0);
    assert_eq!(position(palermo), [13.361389338970184, 38.1155563954963]);
    assert_eq!(&standard_hash(palermo), b"sqc8b49rny0");
    assert_eq!(&standard_hash(catania), b"sqdtr74hyu0");
    let [x1, y1] = position(palermo);
    let [x2, y2] = position(catania);
    assert_eq!(distance_text(distance(x1, y1, x2, y2)), "166274.1516");
    assert_eq!(distance_text(distance(x1, y1, x2, y2) / 1000.0), "166.2742");
    assert!(score_of(200.0, 100.0).is_none());
    assert!(score_of(180.0, 85.05112878).is_some());
}

#[test]
fn any_score_decodes_as_c_converts_it() {
    // Scores ZADD put there: -5 wraps to a huge hash (clamped to the corner), 1e300
    // converts to the "indefinite" integer and wraps to 0, as 0.5 truncates to 0.
    assert_eq!(position(-5.0), [180.0, 85.05112878]);
    assert_eq!(position(1e300), position(0.5));
    assert_eq!(position(0.5), [-179.99999731779099, -85.05112751263943]);
    assert_eq!(&standard_hash(-5.0), b"bp05b5048p0");
    assert_eq!(&standard_hash(0.5), b"00bh0hbj200");
}

#[test]
fn distances_print_with_four_decimals_rounded_half_to_even() {
    assert_eq!(distance_text(0.0), "0.0000");
    assert_eq!(distance_text(0.00005), "0.0000");
    assert_eq!(
        distance_text(0.00015),
        "0.0001",
        "1.4999999999999998 after scaling"
    );
    assert_eq!(distance_text(0.7750), "0.7750");
    assert_eq!(distance_text(56.44127), "56.4413");
}

#[test]
fn a_small_search_scans_the_centre_cell_and_its_neighbours() {
    let boxes = search_boxes([15.0, 37.0], &Shape::Radius(200.0), 1000.0);
    assert!(boxes[0].step > 0 && boxes[0].step <= 26);
    // Every neighbour differs from the centre; none of them is the zero box here.
    for b in &boxes[1..] {
        assert_ne!(*b, boxes[0]);
    }
}
