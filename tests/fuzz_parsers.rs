//! Property tests over the parsers of files people hand the studio: the manifest, list files,
//! Multi-PIE names, the `.npy` header, an imported safetensors file and a checkpoint's
//! `checksums.json`. Whatever the bytes, a parser returns what it reads or an error, never
//! panics, and keeps what it echoes back short. Cases that once failed are kept as plain tests
//! below.

use std::path::Path;
use std::sync::OnceLock;

use burn::prelude::Device;
use drgan_studio::data::faceset::EXAMPLE_CHARS;
use drgan_studio::data::formats::{self, OpenOptions, multipie, numpy};
use drgan_studio::model::exchange::{Exported, Networks, to_safetensors};
use drgan_studio::model::{Discriminator, Generator, ModelConfig, Preset};
use drgan_studio::train::run_dir::TrainerState;
use drgan_studio::train::RunDir;
use proptest::prelude::*;
use rand::SeedableRng;
use safetensors::Dtype;
use safetensors::tensor::TensorView;
use sha2::Digest;

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

/// Cases of the properties that read whole models (each builds one).
const MODEL_CASES: u32 = 48;

/// The model an imported file is read as, and an export of it.
fn tiny() -> &'static (ModelConfig, Vec<u8>) {
    static TINY: OnceLock<(ModelConfig, Vec<u8>)> = OnceLock::new();
    TINY.get_or_init(|| {
        let config = ModelConfig::new(Preset::Tiny, 4);
        let device = Device::flex();
        let networks = Networks {
            generator: Generator::new(&config, &device),
            discriminator: Discriminator::new(&config, &device),
        };
        let bytes = to_safetensors(&networks, &config, 0, &[]).unwrap();
        (config, bytes)
    })
}

/// Every dtype of the safetensors format.
fn dtype() -> impl Strategy<Value = Dtype> {
    use Dtype::*;
    prop::sample::select(vec![BOOL, F4, F6_E2M3, F6_E3M2, U8, I8, F8_E5M2, F8_E4M3, F8_E8M0, I16, U16, F16, BF16, I32, U32, F32, C64, F64, I64, U64])
}

/// Imports `bytes` as a file; an error must be one short line.
fn import(bytes: &[u8]) -> anyhow::Result<()> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.safetensors");
    std::fs::write(&path, bytes).unwrap();
    let read = Exported::read(&path).and_then(|file| {
        file.metadata()?;
        file.networks(&tiny().0, &Device::flex()).map(|_| ())
    });
    if let Err(error) = &read {
        let text = format!("{error:#}");
        assert!(text.len() < 2000 && !text.contains('\n'), "an error of {} bytes: {text}", text.len());
    }
    read
}

proptest! {
    #![proptest_config(ProptestConfig { cases: MODEL_CASES, ..ProptestConfig::default() })]

    /// Tensors of any dtype, some or all of them, with any bytes: an import converts F16, BF16
    /// and F64 and refuses the rest; it never panics and never takes another dtype.
    #[test]
    fn imports_never_panic_nor_take_a_dtype_they_cannot_convert(to in dtype(), every in 0usize..4, fill in any::<u8>()) {
        let (_, bytes) = tiny();
        let read = safetensors::SafeTensors::deserialize(bytes).unwrap();
        let mut tensors: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = Vec::new();
        for (index, (name, view)) in read.tensors().into_iter().enumerate() {
            let changed = every == 0 || index % every == 0;
            let elements: usize = view.shape().iter().product();
            let (dtype, data) = if changed { (to, vec![fill; elements * to.bitsize() / 8]) } else { (view.dtype(), view.data().to_vec()) };
            prop_assume!(!changed || (elements * to.bitsize()) % 8 == 0);
            tensors.push((name, dtype, view.shape().to_vec(), data));
        }
        let views: Vec<(String, TensorView)> = tensors.iter().map(|(n, d, s, b)| (n.clone(), TensorView::new(*d, s.clone(), b).unwrap())).collect();
        let file = safetensors::serialize(views, None).unwrap();
        if import(&file).is_ok() {
            prop_assert!([Dtype::F32, Dtype::F16, Dtype::BF16, Dtype::F64].contains(&to), "{to:?} was taken");
        }
    }

    /// A header changed byte by byte, or a length field that lies: an error, never a panic.
    #[test]
    fn corrupt_safetensors_headers_never_panic(changes in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8), length in prop::option::of(any::<u64>())) {
        let mut bytes = tiny().1.clone();
        let header = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        for (at, value) in changes {
            bytes[8 + at.index(header)] = value;
        }
        if let Some(length) = length {
            bytes[..8].copy_from_slice(&length.to_le_bytes());
        }
        let _ = import(&bytes);
    }

    /// Random text as the header: an error, never a panic.
    #[test]
    fn random_safetensors_headers_never_panic(header in prop_oneof!["[ -~]{0,200}", "\\{\"[A-Za-z.]{1,20}\":\\{\"dtype\":\"[A-Z0-9_]{1,8}\",\"shape\":\\[[0-9,]{0,12}\\],\"data_offsets\":\\[[0-9]{1,6},[0-9]{1,6}\\]\\}\\}"], data in proptest::collection::vec(any::<u8>(), 0..64)) {
        let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
        bytes.extend_from_slice(header.as_bytes());
        bytes.extend_from_slice(&data);
        prop_assert!(import(&bytes).is_err());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: CASES, ..ProptestConfig::default() })]

    /// A checksums.json naming anything (a device, a path out of the folder, a folder, nothing):
    /// the checkpoint is taken only when every name is a file of its own folder whose checksum
    /// matches, and nothing outside it is read.
    #[test]
    fn checksums_naming_any_file_never_reach_outside_the_checkpoint(name in prop_oneof![
        Just("/dev/zero".to_owned()), Just("a.bin".to_owned()), Just("state.json".to_owned()), Just(".".to_owned()), Just(String::new()),
        "(\\.\\./){1,4}[a-z]{1,6}", "[a-z./]{0,12}", "/[a-z/]{0,12}",
    ]) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("outside"), b"x").unwrap();
        let run = RunDir::new(dir.path().join("run"));
        let checkpoint = run.checkpoint_dir(2);
        std::fs::create_dir_all(checkpoint.join("folder")).unwrap();
        let state = TrainerState { step: 2, wall_secs: 0.0, rng: rand_pcg::Pcg64::seed_from_u64(0), last_d_accuracy: None };
        std::fs::write(checkpoint.join("state.json"), serde_json::to_string(&state).unwrap()).unwrap();
        std::fs::write(checkpoint.join("a.bin"), b"weights").unwrap();
        let sum = |bytes: &[u8]| format!("{:x}", sha2::Sha256::digest(bytes));
        let mut sums = std::collections::BTreeMap::new();
        sums.insert("state.json".to_owned(), sum(&std::fs::read(checkpoint.join("state.json")).unwrap()));
        // The odd name with the checksum of a file that is there.
        sums.insert(name.clone(), sum(b"weights"));
        std::fs::write(checkpoint.join("checksums.json"), serde_json::to_string(&sums).unwrap()).unwrap();
        let read = run.read_state(2);
        prop_assert_eq!(read.is_ok(), name == "a.bin", "{}: {:?}", name, read.err());
    }

    /// One image named by several spellings of its path (`./a.png`, `b/../a.png`, …) is one
    /// image, the other rows duplicates.
    #[test]
    fn a_path_spelled_many_ways_is_one_image(spellings in proptest::collection::vec(proptest::collection::vec(prop_oneof![Just("./"), Just("b/../"), Just("b/./../"), Just("")], 0..4), 1..8)) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("b")).unwrap();
        image::RgbImage::from_pixel(40, 40, image::Rgb([100, 80, 70])).save(dir.path().join("a.png")).unwrap();
        let rows: Vec<String> = spellings.iter().enumerate().map(|(i, parts)| format!("{}a.png,p{i},0", parts.concat())).collect();
        std::fs::write(dir.path().join("manifest.csv"), format!("path,identity,yaw\n{}\n", rows.join("\n"))).unwrap();
        let faces = formats::open(dir.path(), &OpenOptions::default()).unwrap();
        prop_assert_eq!(faces.samples.len(), 1);
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
