//! File dialogs that neither block the window nor fail silently. A dialog runs on its own thread
//! while the window keeps drawing (on macOS, where dialogs belong to the main thread, it runs
//! there). A dialog that comes back empty almost at once could not open — on Linux, a desktop
//! without a file-chooser portal or zenity, such as a bare X server — so the view says so and
//! offers a field for a typed path instead.

use std::path::PathBuf;
use std::sync::mpsc::{Receiver, TryRecvError, channel};
use std::time::{Duration, Instant};

use eframe::egui;

/// What to ask the person for.
#[derive(Clone, Debug)]
pub enum Request {
    /// A folder, starting in this one when it exists.
    Folder { start: Option<PathBuf> },
    /// One file.
    File,
    /// One or more images.
    Images,
    /// Where to save a file of this suggested name.
    Save { name: String },
}

impl Request {
    /// Runs the platform's dialog; `None` when it was cancelled or could not open.
    fn run(self) -> Option<Vec<PathBuf>> {
        match self {
            Request::Folder { start } => {
                let dialog = rfd::FileDialog::new();
                let dialog = match start.filter(|s| s.is_dir()) {
                    Some(start) => dialog.set_directory(start),
                    None => dialog,
                };
                dialog.pick_folder().map(|p| vec![p])
            }
            Request::File => rfd::FileDialog::new().pick_file().map(|p| vec![p]),
            Request::Images => rfd::FileDialog::new().add_filter("images", &["png", "jpg", "jpeg", "bmp", "webp", "gif", "tif", "tiff"]).pick_files(),
            Request::Save { name } => rfd::FileDialog::new().set_file_name(name).save_file().map(|p| vec![p]),
        }
    }

    /// What the typed-path field starts with.
    fn suggestion(&self) -> String {
        match self {
            Request::Save { name } => name.clone(),
            _ => String::new(),
        }
    }
}

/// A dialog that comes back empty sooner than this could not have been shown to anyone.
const TOO_FAST_FOR_A_PERSON: Duration = Duration::from_millis(400);

/// What the person is choosing a path for, and how far the choice has gone.
enum State<P> {
    Idle,
    Open { purpose: P, request: Request, answer: Receiver<Option<Vec<PathBuf>>>, opened: Instant },
    Typing { purpose: P, text: String },
}

/// One view's file dialog: at most one open at a time. `P` says what the chosen paths are for
/// (and can carry what to save).
pub struct FileChooser<P> {
    state: State<P>,
}

impl<P> Default for FileChooser<P> {
    fn default() -> Self {
        Self { state: State::Idle }
    }
}

impl<P> FileChooser<P> {
    /// Whether a dialog or the typed-path field is waiting for the person.
    pub fn is_busy(&self) -> bool {
        !matches!(self.state, State::Idle)
    }

    /// Opens a dialog for `purpose`; the window goes on drawing meanwhile.
    pub fn open(&mut self, ctx: &egui::Context, purpose: P, request: Request) {
        let (sender, answer) = channel();
        let opened = Instant::now();
        if cfg!(target_os = "macos") {
            let _ = sender.send(request.clone().run());
        } else {
            let (ctx, asked) = (ctx.clone(), request.clone());
            let spawned = std::thread::Builder::new().name("file dialog".to_owned()).spawn(move || {
                let _ = sender.send(asked.run());
                ctx.request_repaint();
            });
            if spawned.is_err() {
                // No thread for the dialog: go straight to the typed path.
                self.state = State::Typing { purpose, text: request.suggestion() };
                return;
            }
        }
        self.state = State::Open { purpose, request, answer, opened };
    }

    /// Shows the state of the choice (a note while a dialog is open; the typed-path field when
    /// no dialog could open) and returns the paths once chosen.
    pub fn ui(&mut self, ui: &mut egui::Ui) -> Option<(P, Vec<PathBuf>)> {
        match std::mem::replace(&mut self.state, State::Idle) {
            State::Idle => None,
            State::Open { purpose, request, answer, opened } => match answer.try_recv() {
                Ok(Some(paths)) => Some((purpose, paths)),
                Ok(None) | Err(TryRecvError::Disconnected) if opened.elapsed() < TOO_FAST_FOR_A_PERSON => {
                    self.state = State::Typing { purpose, text: request.suggestion() };
                    self.ui(ui)
                }
                Ok(None) | Err(TryRecvError::Disconnected) => None,
                Err(TryRecvError::Empty) => {
                    ui.horizontal(|ui| {
                        ui.spinner();
                        ui.label("a file dialog is open…");
                    });
                    self.state = State::Open { purpose, request, answer, opened };
                    None
                }
            },
            State::Typing { purpose, mut text } => {
                ui.colored_label(ui.visuals().warn_fg_color, "No file dialog could open here (no desktop file-chooser portal or zenity). Type the path:");
                let (mut chosen, mut cancelled) = (false, false);
                ui.horizontal(|ui| {
                    let label = ui.label("path");
                    let field = ui.add(egui::TextEdit::singleline(&mut text).hint_text("a path").desired_width(220.0)).labelled_by(label.id);
                    chosen = ui.button("OK").clicked() || (field.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter)));
                    cancelled = ui.button("Cancel").clicked();
                });
                let text_path = PathBuf::from(text.trim());
                if chosen && !text.trim().is_empty() {
                    Some((purpose, vec![text_path]))
                } else {
                    if !cancelled {
                        self.state = State::Typing { purpose, text };
                    }
                    None
                }
            }
        }
    }
}
