//! Face thumbnails decoded off the window's thread. The Faces view says each frame which faces
//! are on screen; background threads decode only those (newest wish first) and the textures of
//! faces far off screen are dropped, so a set of any size scrolls smoothly.

use std::collections::{HashMap, HashSet};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Condvar, Mutex};

use eframe::egui;

use crate::data::ImageSource;
use crate::data::prepare::load_rgb;

/// Side of a thumbnail in pixels.
pub const THUMBNAIL_SIZE: usize = 64;
/// Textures kept before those off screen are dropped.
const MAX_TEXTURES: usize = 1500;
/// Decoding threads.
const THREADS: usize = 2;

/// What the decoding threads should do next: the faces wanted now, for one face set.
#[derive(Default)]
struct Wishes {
    generation: u64,
    queue: Vec<(usize, ImageSource)>,
    closed: bool,
}

type Decoded = (u64, usize, Result<egui::ColorImage, String>);

/// Thumbnail textures of the current face set.
pub struct Thumbnails {
    generation: u64,
    textures: HashMap<usize, egui::TextureHandle>,
    failed: HashMap<usize, String>,
    asked: HashSet<usize>,
    wished: bool,
    decoded: usize,
    wishes: Arc<(Mutex<Wishes>, Condvar)>,
    results: Receiver<Decoded>,
}

impl Thumbnails {
    /// Starts the decoding threads; they repaint `ctx` when a thumbnail is ready.
    pub fn new(ctx: &egui::Context) -> Self {
        let wishes = Arc::new((Mutex::new(Wishes::default()), Condvar::new()));
        let (sender, results) = channel();
        for index in 0..THREADS {
            let (wishes, sender, ctx) = (wishes.clone(), sender.clone(), ctx.clone());
            // A thread that fails to start leaves the others; with none, faces show as grey.
            let _ = std::thread::Builder::new().name(format!("thumbnails-{index}")).spawn(move || decode_loop(&wishes, &sender, &ctx));
        }
        Self { generation: 0, textures: HashMap::new(), failed: HashMap::new(), asked: HashSet::new(), wished: false, decoded: 0, wishes, results }
    }

    /// Forgets every thumbnail: a new face set is on show.
    pub fn reset(&mut self) {
        self.generation += 1;
        self.textures.clear();
        self.failed.clear();
        self.asked.clear();
        self.wished = false;
        self.decoded = 0;
        if let Ok(mut wishes) = self.wishes.0.lock() {
            wishes.generation = self.generation;
            wishes.queue.clear();
        }
    }

    /// Takes in what the threads decoded.
    pub fn poll(&mut self, ctx: &egui::Context) {
        while let Ok((generation, index, result)) = self.results.try_recv() {
            if generation != self.generation {
                continue;
            }
            match result {
                Ok(image) => {
                    let texture = ctx.load_texture(format!("thumb-{generation}-{index}"), image, egui::TextureOptions::LINEAR);
                    self.textures.insert(index, texture);
                    self.decoded += 1;
                }
                Err(reason) => {
                    self.failed.insert(index, reason);
                }
            }
        }
    }

    /// The texture of face `index`, if decoded.
    pub fn texture(&self, index: usize) -> Option<&egui::TextureHandle> {
        self.textures.get(&index)
    }

    /// Why face `index` could not be decoded, if it could not.
    pub fn failure(&self, index: usize) -> Option<&str> {
        self.failed.get(&index).map(String::as_str)
    }

    /// Says which faces are on screen now; those not yet decoded are queued (replacing the
    /// previous wishes), and textures of faces off screen are dropped when too many are held.
    pub fn want(&mut self, visible: &[(usize, ImageSource)]) {
        let missing: Vec<(usize, ImageSource)> = visible
            .iter()
            .filter(|(index, _)| !self.textures.contains_key(index) && !self.failed.contains_key(index))
            .cloned()
            .collect();
        if self.textures.len() > MAX_TEXTURES {
            let keep: HashSet<usize> = visible.iter().map(|(index, _)| *index).collect();
            self.textures.retain(|index, _| keep.contains(index));
        }
        self.asked = missing.iter().map(|(index, _)| *index).collect();
        self.wished = true;
        let (lock, wake) = &*self.wishes;
        if let Ok(mut wishes) = lock.lock() {
            wishes.generation = self.generation;
            // Reversed so that `pop` decodes the top of the screen first.
            wishes.queue = missing.into_iter().rev().collect();
            if !wishes.queue.is_empty() {
                wake.notify_all();
            }
        }
    }

    /// Thumbnails decoded since the face set opened (textures held and dropped ones alike).
    pub fn decoded(&self) -> usize {
        self.decoded
    }

    /// Whether every face on screen has its thumbnail (or its reason for having none).
    pub fn ready(&self) -> bool {
        self.wished && self.asked.iter().all(|index| self.textures.contains_key(index) || self.failed.contains_key(index))
    }
}

impl Drop for Thumbnails {
    fn drop(&mut self) {
        let (lock, wake) = &*self.wishes;
        if let Ok(mut wishes) = lock.lock() {
            wishes.closed = true;
            wake.notify_all();
        }
    }
}

fn decode_loop(wishes: &(Mutex<Wishes>, Condvar), sender: &Sender<Decoded>, ctx: &egui::Context) {
    let (lock, wake) = wishes;
    loop {
        let job = {
            let Ok(mut guard) = lock.lock() else { return };
            loop {
                if guard.closed {
                    return;
                }
                if let Some(job) = guard.queue.pop() {
                    break (guard.generation, job);
                }
                guard = match wake.wait(guard) {
                    Ok(guard) => guard,
                    Err(_) => return,
                };
            }
        };
        let (generation, (index, source)) = job;
        let result = load_rgb(&source, THUMBNAIL_SIZE)
            .map(|rgb| super::color_image(&rgb))
            .map_err(|e| e.reason());
        if sender.send((generation, index, result)).is_err() {
            return;
        }
        ctx.request_repaint();
    }
}
