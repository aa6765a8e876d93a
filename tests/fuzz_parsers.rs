//! Property tests over the parsers of files people hand the studio: the manifest, list files,
//! Multi-PIE names and the `.npy` header. Whatever the bytes, a parser returns a face set or an
//! error, never panics, and keeps what it echoes back short. Cases that once failed are kept as
//! plain tests below.

use std::path::Path;

use drgan_studio::data::faceset::EXAMPLE_CHARS;
use drgan_studio::data::formats::{self, OpenOptions, multipie, numpy};
use proptest::prelude::*;

/// Cases per property (each writes a file or two).
const CASES: u32 = 256;

/// A line of a manifest or list: mostly plausible fields, sometimes noise, sometimes very long.
fn line() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => ("[a-z0-9_./]{0,12}", "[a-zA-Z0-9 ]{0,6}", prop_oneof![Just("0".to_owned()), Just("-60".to_owned()), Just("nan".to_owned()), Just("1e40".to_owned()), "-?[0-9]{1,4}(\\.[0-9]{1,3})?"])
            .prop_map(|(path, id, pose)| format!("{path},{id},{pose}")),
        2 => "[ -~]{0,40}",
        1 => any::<Vec<u8>>().prop_map(|bytes| String::from_utf8_lossy(&bytes).into_owned()),
        1 => (1000usize..5000).prop_map(|n| "x".repeat(n)),
    ]
}

/// Every example a face set reports is bounded.
fn assert_bounded(faces: &drgan_studio::data::FaceSet) {
    for (_, _, examples) in faces.skipped.entries() {
        for example in examples {
            assert!(example.chars().count() <= EXAMPLE_CHARS + 40, "an example of {} characters", example.chars().count());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: CASES, ..ProptestConfig::default() })]

    #[test]
    fn manifests_never_panic(header in prop_oneof![Just("path,identity,yaw".to_owned()), Just("path,identity,pose_bin".to_owned()), "[ -~]{0,30}"], lines in proptest::collection::vec(line(), 0..20)) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("manifest.csv"), format!("{header}\n{}", lines.join("\n"))).unwrap();
        match formats::open(dir.path(), &OpenOptions::default()) {
            Ok(faces) => assert_bounded(&faces),
            Err(error) => prop_assert!(format!("{error:#}").len() < 2000, "an error of {} bytes", format!("{error:#}").len()),
        }
    }

    #[test]
    fn list_files_never_panic(lines in proptest::collection::vec(line().prop_map(|l| l.replace(',', " ")), 0..20), separator in prop_oneof![Just(";"), Just(" ")]) {
        let dir = tempfile::tempdir().unwrap();
        let text: Vec<String> = lines.iter().map(|l| l.replacen(' ', separator, 1)).collect();
        let list = dir.path().join("faces.txt");
        std::fs::write(&list, text.join("\n")).unwrap();
        if let Ok(faces) = formats::open(&list, &OpenOptions::default()) {
            assert_bounded(&faces);
        }
    }

    #[test]
    fn multipie_names_never_panic(name in prop_oneof!["[0-9]{3}_[0-9]{2}_[0-9]{2}_[0-9]{3}_[0-9]{2}\\.png", "[0-9_]{0,20}\\.(png|jpg)", "[ -~]{0,30}"]) {
        let parsed = multipie::parse_name(Path::new(&name));
        if let Some(parsed) = parsed {
            prop_assert!(name.len() >= 17, "{name} parsed as {parsed:?}");
        }
    }

    #[test]
    fn npy_headers_never_panic_nor_allocate_what_they_claim(
        version in 1u8..=3,
        claimed in any::<u32>(),
        descr in prop_oneof!["[<>|=]?[a-zA-Z][0-9]{0,3}", "[ -~]{0,6}", "é[0-9]"],
        body in "[ -~]{0,120}",
        shape in proptest::collection::vec(any::<u64>(), 0..5),
        data in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("images.npy");
        let dims: Vec<String> = shape.iter().map(u64::to_string).collect();
        let header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': ({}), }}{body}", dims.join(", "));
        let mut bytes = b"\x93NUMPY".to_vec();
        bytes.push(version);
        bytes.push(0);
        // Either the true header length or whatever the property drew.
        let length = if claimed % 2 == 0 { header.len() as u32 } else { claimed };
        if version == 1 {
            bytes.extend_from_slice(&(length as u16).to_le_bytes());
        } else {
            bytes.extend_from_slice(&length.to_le_bytes());
        }
        bytes.extend_from_slice(header.as_bytes());
        bytes.extend_from_slice(&data);
        std::fs::write(&path, &bytes).unwrap();
        let _ = numpy::read_header(&path);
        let _ = numpy::read_integers(&path);
    }
}

/// Found in review (an 8-byte buffer indexed by the dtype's size): identities saved as names
/// (`<U12`), wider integers (`<i16`), no size (`<i0`) and an empty dtype are refused, not a panic.
#[test]
fn an_npy_of_names_or_odd_widths_is_refused_with_its_dtype() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ids.npy");
    for descr in ["<U12", "<i16", "<c16", "<i0", "", "|b1", ">i8"] {
        let header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': (2,), }}");
        let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
        bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
        bytes.extend_from_slice(header.as_bytes());
        bytes.extend_from_slice(&[0u8; 48]);
        std::fs::write(&path, bytes).unwrap();
        let error = format!("{:#}", numpy::read_integers(&path).unwrap_err());
        assert!(error.contains("not an array of integers") || error.contains("big-endian") || error.contains("dtype"), "{descr}: {error}");
    }
}

/// Found by the properties above (a shape whose element count overflows): now an error.
#[test]
fn an_npy_shape_that_overflows_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ids.npy");
    let header = "{'descr': '<i8', 'fortran_order': False, 'shape': (4294967296, 4294967296), }";
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    std::fs::write(&path, bytes).unwrap();
    let error = numpy::read_integers(&path).unwrap_err();
    assert!(format!("{error:#}").contains("larger than any file can be"), "{error:#}");
}
