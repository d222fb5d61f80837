//! Property tests of the RESP codec: every frame survives encode → decode, and no
//! byte sequence, split at any point, makes a decoder panic.

use bytes::{Bytes, BytesMut};
use okapi_resp::{Decoder, Frame, Limits, Protocol, RequestDecoder, encoder};
use proptest::prelude::*;

fn line_text() -> impl Strategy<Value = Bytes> {
    proptest::collection::vec(
        any::<u8>().prop_filter("no CR/LF", |b| *b != b'\r' && *b != b'\n'),
        0..40,
    )
    .prop_map(Bytes::from)
}

fn any_bytes() -> impl Strategy<Value = Bytes> {
    proptest::collection::vec(any::<u8>(), 0..64).prop_map(Bytes::from)
}

fn leaf() -> impl Strategy<Value = Frame> {
    prop_oneof![
        line_text().prop_map(Frame::Simple),
        line_text().prop_map(Frame::Error),
        any::<i64>().prop_map(Frame::Integer),
        any_bytes().prop_map(Frame::Bulk),
        Just(Frame::Null),
        any::<f64>()
            .prop_filter("NaN is not equal to itself", |f| !f.is_nan())
            .prop_map(Frame::Double),
        any::<bool>().prop_map(Frame::Boolean),
        "-?[1-9][0-9]{0,40}".prop_map(|s| Frame::BigNumber(Bytes::from(s))),
        any_bytes().prop_map(Frame::BulkError),
        ("[a-z]{3}", any_bytes()).prop_map(|(f, text)| {
            let mut format = [0u8; 3];
            format.copy_from_slice(f.as_bytes());
            Frame::Verbatim { format, text }
        }),
    ]
}

fn frame() -> impl Strategy<Value = Frame> {
    leaf().prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..8).prop_map(Frame::Array),
            proptest::collection::vec(inner.clone(), 0..8).prop_map(Frame::Set),
            proptest::collection::vec(inner.clone(), 0..8).prop_map(Frame::Push),
            proptest::collection::vec((inner.clone(), inner.clone()), 0..6).prop_map(Frame::Map),
            (
                proptest::collection::vec((inner.clone(), inner.clone()), 1..3),
                inner
            )
                .prop_map(|(attributes, frame)| Frame::Attributed {
                    attributes,
                    frame: Box::new(frame)
                }),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn resp3_round_trip(frame in frame()) {
        let mut wire = BytesMut::new();
        encoder::frame(&mut wire, &frame, Protocol::Resp3);
        let mut decoder = Decoder::default();
        let decoded = decoder.decode(&mut wire).expect("valid").expect("complete");
        prop_assert_eq!(decoded, frame);
        prop_assert!(wire.is_empty());
    }

    #[test]
    fn round_trip_survives_any_split(frame in frame(), split in any::<prop::sample::Index>()) {
        let mut wire = BytesMut::new();
        encoder::frame(&mut wire, &frame, Protocol::Resp3);
        let cut = split.index(wire.len() + 1);
        let mut decoder = Decoder::default();
        let mut buf = BytesMut::from(&wire[..cut]);
        let early = decoder.decode(&mut buf).expect("a prefix is never an error");
        if cut < wire.len() {
            prop_assert!(early.is_none());
            buf.extend_from_slice(&wire[cut..]);
            prop_assert_eq!(decoder.decode(&mut buf).expect("valid").expect("complete"), frame);
        } else {
            prop_assert_eq!(early.expect("complete"), frame);
        }
    }

    #[test]
    fn decoders_never_panic_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512), splits in proptest::collection::vec(any::<prop::sample::Index>(), 0..6)) {
        let limits = Limits { max_bulk_len: 1 << 20, max_array_len: 1 << 16, ..Limits::default() };
        let mut cuts: Vec<usize> = splits.iter().map(|s| s.index(bytes.len() + 1)).collect();
        cuts.push(bytes.len());
        cuts.sort_unstable();
        let mut frames = Decoder::new(limits);
        let mut requests = RequestDecoder::new(limits);
        let (mut a, mut b) = (BytesMut::new(), BytesMut::new());
        let mut start = 0;
        let (mut frames_ok, mut requests_ok) = (true, true);
        for cut in cuts {
            a.extend_from_slice(&bytes[start..cut]);
            b.extend_from_slice(&bytes[start..cut]);
            start = cut;
            while frames_ok {
                match frames.decode(&mut a) {
                    Ok(Some(_)) => {}
                    Ok(None) => break,
                    Err(_) => frames_ok = false,
                }
            }
            while requests_ok {
                match requests.decode(&mut b) {
                    Ok(Some(_)) => {}
                    Ok(None) => break,
                    Err(_) => requests_ok = false,
                }
            }
        }
    }

    #[test]
    fn requests_decode_identically_whatever_the_chunking(
        args in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 1..12),
        chunk in 1usize..64,
    ) {
        let frame = Frame::command(args.iter().cloned().map(Bytes::from));
        let mut wire = BytesMut::new();
        encoder::frame(&mut wire, &frame, Protocol::Resp2);
        wire.extend_from_slice(&wire.clone());
        let mut decoder = RequestDecoder::default();
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        for piece in wire.chunks(chunk) {
            buf.extend_from_slice(piece);
            while let Some(request) = decoder.decode(&mut buf).expect("valid") {
                got.push(request);
            }
        }
        let expected: Vec<Bytes> = args.into_iter().map(Bytes::from).collect();
        prop_assert_eq!(got, vec![expected.clone(), expected]);
    }
}

#[test]
fn resp2_downgrades_decode_to_plain_types() {
    let frame = Frame::Map(vec![
        (Frame::bulk("a"), Frame::Double(2.5)),
        (Frame::bulk("b"), Frame::Boolean(true)),
    ]);
    let mut wire = BytesMut::new();
    encoder::frame(&mut wire, &frame, Protocol::Resp2);
    let decoded = Decoder::default()
        .decode(&mut wire)
        .expect("valid")
        .expect("complete");
    assert_eq!(
        decoded,
        Frame::Array(vec![
            Frame::bulk("a"),
            Frame::bulk("2.5"),
            Frame::bulk("b"),
            Frame::Integer(1)
        ])
    );
}
