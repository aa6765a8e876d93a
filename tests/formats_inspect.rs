//! Every face-set layout, with planted bad files: `inspect --json` reports exact counts, and
//! `train --data` trains on each layout that has labels.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::{Value, json};

fn face(path: &Path, size: u32, shade: u8) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    image::RgbImage::from_fn(size, size, |x, y| image::Rgb([shade, (x * 7) as u8, (y * 5) as u8])).save(path).unwrap();
}

/// Writes good images and the planted bad ones: a zero-byte file, a truncated PNG, an image too
/// small to be a face and a text file posing as a PNG.
fn plant_bad_files(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("empty.png"), b"").unwrap();
    face(&dir.join("whole.png"), 24, 9);
    let bytes = std::fs::read(dir.join("whole.png")).unwrap();
    std::fs::write(dir.join("truncated.png"), &bytes[..bytes.len() / 3]).unwrap();
    std::fs::remove_file(dir.join("whole.png")).unwrap();
    face(&dir.join("tiny.png"), 8, 9);
    std::fs::write(dir.join("text.png"), b"not an image").unwrap();
}

fn inspect(path: &Path, extra: &[&str]) -> Value {
    let output = Command::cargo_bin("drgan-studio").unwrap().arg("inspect").arg(path).arg("--json").args(extra).assert().success();
    serde_json::from_slice(&output.get_output().stdout).unwrap()
}

fn skipped(report: &Value) -> Vec<(String, u64)> {
    report["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["reason"].as_str().unwrap().to_owned(), s["count"].as_u64().unwrap()))
        .collect()
}

fn reasons(pairs: &[(&str, u64)]) -> Vec<(String, u64)> {
    let mut v: Vec<(String, u64)> = pairs.iter().map(|(r, c)| (r.to_string(), *c)).collect();
    v.sort();
    v
}

fn train_one_step(data: &Path, extra: &[&str]) {
    let run = tempfile::tempdir().unwrap();
    Command::cargo_bin("drgan-studio")
        .unwrap()
        .args(["train", "--preset", "tiny", "--batch", "2", "--steps", "1", "--device", "cpu", "--test-fraction", "0.4", "--data"])
        .arg(data)
        .arg("--out")
        .arg(run.path().join("run"))
        .args(extra)
        .assert()
        .success();
    assert!(run.path().join("run/checkpoints/step-00000001/generator.bpk").is_file());
}

#[test]
fn manifest_with_bad_rows_and_files() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for (i, name) in ["a", "b", "c"].iter().enumerate() {
        face(&root.join(format!("{name}0.png")), 24, 40 * i as u8);
        face(&root.join(format!("{name}1.png")), 30, 40 * i as u8 + 10);
    }
    face(&root.join("turned.png"), 24, 200);
    plant_bad_files(root);
    std::fs::write(
        root.join("manifest.csv"),
        "path,identity,yaw,note\n\
         a0.png,a,-60,x\na1.png,a,0,x\nb0.png,b,0,x\nb1.png,b,16,x\nc0.png,c,60,x\nc1.png,c,-22.4,x\n\
         a0.png,a,0,duplicate\nb0.png,,0,no identity\nc0.png,c,left,bad yaw\n../outside.png,c,0,escapes\n\
         turned.png,a,90,out of range\nempty.png,a,0,\ntruncated.png,b,0,\ntiny.png,c,0,\ntext.png,c,15,\nmissing.png,c,30,\n",
    )
    .unwrap();
    let report = inspect(root, &[]);
    assert_eq!(report["format"], "manifest");
    assert_eq!(report["images"], 6);
    assert_eq!(report["identities"], 3);
    assert_eq!(report["per_bin"], json!([1, 0, 0, 1, 2, 1, 0, 0, 1]));
    assert_eq!(report["out_of_range"], 1);
    assert_eq!(report["ignored_columns"], json!(["note"]));
    assert_eq!(
        skipped(&report),
        reasons(&[
            ("duplicate path", 1),
            ("image too small (under 16 px)", 1),
            ("missing identity", 1),
            ("non-numeric yaw", 1),
            ("path outside the manifest's folder", 1),
            ("pose outside the bins", 1),
            ("unreadable image", 3),
            ("zero-byte file", 1),
        ])
    );
    train_one_step(root, &[]);
}

#[test]
fn manifest_with_pose_bins() {
    let dir = tempfile::tempdir().unwrap();
    face(&dir.path().join("a.png"), 24, 0);
    face(&dir.path().join("b.png"), 24, 90);
    std::fs::write(dir.path().join("faces.csv"), "path,identity,pose_bin\na.png,x,0\nb.png,y,4\na.png,y,9\n").unwrap();
    let report = inspect(&dir.path().join("faces.csv"), &[]);
    assert_eq!((report["images"].clone(), report["out_of_range"].clone()), (json!(2), json!(0)));
    assert_eq!(skipped(&report), reasons(&[("duplicate path", 1)]));
    assert_eq!(report["per_bin"], json!([1, 0, 0, 0, 1, 0, 0, 0, 0]));
}

#[test]
fn multipie_file_names_at_any_depth() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    face(&root.join("session1/001/001_01_01_051_07.png"), 24, 0);
    face(&root.join("session1/001/001_01_01_090_00.png"), 24, 0);
    face(&root.join("002_01_01_200_03.png"), 24, 100);
    face(&root.join("deep/er/002_01_01_041_03.png"), 24, 100);
    face(&root.join("002_02_01_010_00.png"), 24, 100);
    face(&root.join("notes.png"), 24, 100);
    std::fs::write(root.join("003_01_01_051_00.png"), b"").unwrap();
    let report = inspect(root, &[]);
    assert_eq!(report["format"], "multipie");
    assert_eq!(report["images"], 4);
    assert_eq!(report["identities"], 2);
    assert_eq!(report["per_bin"], json!([1, 0, 0, 0, 1, 0, 1, 0, 1]));
    assert_eq!(report["out_of_range"], 1);
    assert_eq!(
        skipped(&report),
        reasons(&[("file name not in Multi-PIE form", 1), ("pose outside the bins", 1), ("zero-byte file", 1)])
    );
    train_one_step(root, &[]);
}

#[test]
fn cfp_profiles_are_out_of_range_unless_two_bins_are_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let images = dir.path().join("cfp/Data/Images");
    for id in ["001", "002", "003"] {
        face(&images.join(id).join("frontal/01.jpg"), 24, 30);
        face(&images.join(id).join("frontal/02.jpg"), 24, 60);
        face(&images.join(id).join("profile/01.jpg"), 24, 90);
    }
    std::fs::write(images.join("003/profile/02.jpg"), b"").unwrap();
    let root = dir.path().join("cfp");
    let report = inspect(&root, &[]);
    assert_eq!(report["format"], "cfp");
    assert_eq!(report["images"], 6);
    assert_eq!(report["out_of_range"], 4);
    let two = inspect(&root, &["--cfp-two-bins"]);
    assert_eq!(two["images"], 9);
    assert_eq!(two["per_bin"], json!([6, 3]));
    assert_eq!(skipped(&two), reasons(&[("zero-byte file", 1)]));
    train_one_step(&root, &["--cfp-two-bins"]);
}

#[test]
fn list_files_with_and_without_poses() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for name in ["a", "b", "c", "d"] {
        face(&root.join(format!("img/{name}.png")), 24, 50);
    }
    std::fs::write(root.join("ids.txt"), "img/a.png;alice\nimg/b.png;bob\n\n# comment\nimg/a.png;alice\nimg/c.png;\n").unwrap();
    let report = inspect(&root.join("ids.txt"), &[]);
    assert_eq!(report["format"], "list");
    assert_eq!((report["images"].clone(), report["pose_unknown"].clone()), (json!(2), json!(2)));
    assert_eq!(report["trainable"], false);
    assert_eq!(skipped(&report), reasons(&[("duplicate path", 1), ("missing identity", 1)]));

    std::fs::write(root.join("poses.lst"), "img/a.png alice 4\nimg/b.png bob 0\nimg/c.png carol 12\nimg/d.png dave x\nimg/d.png dave 8\n").unwrap();
    let report = inspect(&root.join("poses.lst"), &[]);
    assert_eq!(report["images"], 3);
    assert_eq!(report["per_bin"], json!([1, 0, 0, 0, 1, 0, 0, 0, 1]));
    assert_eq!(skipped(&report), reasons(&[("non-numeric pose", 1), ("pose outside the bins", 1)]));
    train_one_step(&root.join("poses.lst"), &[]);
    // A list without poses can be inspected but not trained on.
    let run = tempfile::tempdir().unwrap();
    Command::cargo_bin("drgan-studio")
        .unwrap()
        .args(["train", "--preset", "tiny", "--steps", "1", "--device", "cpu", "--data"])
        .arg(root.join("ids.txt"))
        .arg("--out")
        .arg(run.path().join("run"))
        .assert()
        .failure()
        .stderr(predicates::str::contains("not trained on"));
}

/// Writes a version-1 `.npy` file.
fn write_npy(path: &Path, descr: &str, shape: &[usize], data: &[u8]) {
    let shape = match shape {
        [n] => format!("({n},)"),
        dims => format!("({})", dims.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")),
    };
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend((header.len() as u16).to_le_bytes());
    bytes.extend(header.as_bytes());
    bytes.extend(data);
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn numpy_trio_is_read_lazily_and_converted_from_bgr() {
    let dir = tempfile::tempdir().unwrap();
    let (n, side) = (5usize, 20usize);
    let mut pixels = Vec::new();
    for _ in 0..n {
        // BGR planes: blue −1, green −1, red +1: a red face.
        for (channel, value) in [-1.0f32, -1.0, 1.0].into_iter().enumerate() {
            let _ = channel;
            pixels.extend(std::iter::repeat_n(value, side * side).flat_map(f32::to_le_bytes));
        }
    }
    write_npy(&dir.path().join("images.npy"), "<f4", &[n, 3, side, side], &pixels);
    let ids: Vec<u8> = [7i64, 7, 8, 9, 9].iter().flat_map(|v| v.to_le_bytes()).collect();
    write_npy(&dir.path().join("ids.npy"), "<i8", &[n], &ids);
    let yaws: Vec<u8> = [0i64, 4, 8, 11, 4].iter().flat_map(|v| v.to_le_bytes()).collect();
    write_npy(&dir.path().join("yaws.npy"), "<i8", &[n], &yaws);
    let report = inspect(dir.path(), &[]);
    assert_eq!(report["format"], "numpy");
    assert_eq!(report["images"], 4);
    assert_eq!(report["identities"], 3);
    assert_eq!(report["per_bin"], json!([1, 0, 0, 0, 2, 0, 0, 0, 1]));
    assert_eq!(report["out_of_range"], 1);

    // Labels that do not match the images are refused, naming the counts.
    let broken = tempfile::tempdir().unwrap();
    for file in ["images.npy", "yaws.npy"] {
        std::fs::copy(dir.path().join(file), broken.path().join(file)).unwrap();
    }
    write_npy(&broken.path().join("ids.npy"), "<i8", &[2], &ids[..16]);
    Command::cargo_bin("drgan-studio")
        .unwrap()
        .arg("inspect")
        .arg(broken.path())
        .assert()
        .failure()
        .stderr(predicates::str::contains("holds 5 images, but ids.npy has 2 identities"));

    let faces = drgan_studio::data::formats::open(dir.path(), &Default::default()).unwrap();
    let rgb = drgan_studio::data::prepare::decode(&faces.samples[0].image).unwrap().to_rgb8();
    assert_eq!(rgb.get_pixel(3, 3).0, [255, 0, 0], "BGR becomes RGB");
    train_one_step(dir.path(), &[]);
}

#[test]
fn a_plain_folder_is_for_exploring_and_an_empty_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let root: PathBuf = dir.path().join("photos");
    for name in ["x.png", "y.jpg", "sub/z.bmp"] {
        face(&root.join(name), 24, 70);
    }
    std::fs::write(root.join("broken.png"), b"").unwrap();
    let report = inspect(&root, &[]);
    assert_eq!(report["format"], "folder");
    assert_eq!((report["images"].clone(), report["identities"].clone()), (json!(3), json!(0)));
    assert_eq!(report["unlabelled"], 3);
    assert_eq!(report["trainable"], false);
    assert_eq!(skipped(&report), reasons(&[("zero-byte file", 1)]));

    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    Command::cargo_bin("drgan-studio")
        .unwrap()
        .arg("inspect")
        .arg(&empty)
        .assert()
        .failure()
        .stderr(predicates::str::contains("holds no images"));
}

#[test]
fn manifest_landmark_columns_place_each_face() {
    use drgan_studio::data::ImageSource;
    use drgan_studio::data::align::{CANONICAL, Landmarks, align};
    use drgan_studio::data::formats::{self, OpenOptions};
    use drgan_studio::data::prepare::centred_input;
    use image::{RgbImage, imageops};
    let dir = tempfile::tempdir().unwrap();
    // Three photos with a face small and off-centre, as a detector would find them.
    let spec = drgan_studio::synth::SynthSpec { identities: 3, seed: 8, lights: 1 };
    let mut rows = vec!["path,identity,yaw,left_eye_x,left_eye_y,right_eye_x,right_eye_y,mouth_x,mouth_y".to_owned()];
    let mut placed = Vec::new();
    for person in 0..3 {
        let face = imageops::resize(&spec.render(person, 0.0, 0, 200), 90, 90, imageops::FilterType::Triangle);
        let mut photo = RgbImage::from_pixel(240, 160, image::Rgb([40, 90, 140]));
        imageops::replace(&mut photo, &face, 130, 50);
        let name = format!("p{person}.png");
        photo.save(dir.path().join(&name)).unwrap();
        let points = CANONICAL.map(|[x, y]| [130.0 + x * 90.0, 50.0 + y * 90.0]);
        let numbers: Vec<String> = points.iter().flatten().map(|v| format!("{v}")).collect();
        rows.push(format!("{name},id{person},0,{}", numbers.join(",")));
        placed.push((photo, Landmarks(points)));
    }
    face(&dir.path().join("plain.png"), 64, 30);
    rows.push("plain.png,id0,0,,,,,,".to_owned());
    face(&dir.path().join("wrong.png"), 64, 60);
    rows.push("wrong.png,id1,0,40,20,10,20,25,50".to_owned());
    face(&dir.path().join("outside.png"), 64, 90);
    rows.push("outside.png,id2,0,10,20,40,20,25,500".to_owned());
    std::fs::write(dir.path().join("manifest.csv"), rows.join("\n")).unwrap();

    let report = inspect(dir.path(), &[]);
    assert_eq!(report["images"], 4, "{report}");
    assert_eq!(skipped(&report), reasons(&[("landmarks that cannot align the image", 1), ("unusable landmarks", 1)]));

    let faces = formats::open(dir.path(), &OpenOptions { pose_bins: drgan_studio::model::PoseBins::evenly_spaced(-60.0, 15.0, 9), cfp_two_bins: false }).unwrap();
    for (sample, (photo, landmarks)) in faces.samples.iter().zip(&placed) {
        assert!(matches!(&sample.image, ImageSource::Aligned { landmarks: l, .. } if l == landmarks));
        let input = centred_input(&sample.image, 64).unwrap();
        let aligned = align(photo, landmarks, 64).unwrap();
        // The same warp, shifted by the crop's whole pixels: equal up to the rounding of a level.
        let worst = input.as_raw().iter().zip(aligned.as_raw()).map(|(&a, &b)| a.abs_diff(b)).max();
        assert!(worst <= Some(1), "the model's input is the aligned crop (levels apart: {worst:?})");
    }
    assert!(matches!(faces.samples[3].image, ImageSource::File(_)), "a row without landmarks is read as before");
    train_one_step(dir.path(), &[]);

    std::fs::write(dir.path().join("manifest.csv"), "path,identity,yaw,left_eye_x,left_eye_y\np0.png,id0,0,1,2\n").unwrap();
    Command::cargo_bin("drgan-studio").unwrap().arg("inspect").arg(dir.path()).assert().failure().stderr(predicates::str::contains("all six columns"));
}
