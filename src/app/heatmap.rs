//! Comparison maps drawn by the GPU: where a redrawn face differs from the true one (or from
//! the input), as a heat map over the face. The shader (`shaders/heatmap.wgsl`) runs inside an
//! egui paint callback, in the window's own render pass; the CPU keeps the reference
//! computation (`eval::image_quality::{ssim_map, difference_map}`) and hands the shader its
//! window, taps, constants and colour scale, so both draw the same map.

use std::collections::HashMap;
use std::sync::Arc;

use eframe::egui;
use eframe::egui_wgpu::{self, wgpu};
use image::RgbImage;

use crate::eval::image_quality::{SSIM_C1, SSIM_C2, gaussian, ssim_window};

/// The shader, compiled into the binary.
const SHADER: &str = include_str!("../../shaders/heatmap.wgsl");

/// The colour scale from "alike" to "far apart" (inferno's hues), in gamma space 0..=255:
/// stops at 0, ¼, ½, ¾ and 1.
pub const STOPS: [[u8; 3]; 5] = [[0, 0, 4], [87, 16, 110], [188, 55, 84], [249, 142, 9], [252, 255, 164]];

/// The difference (of 255) at the hot end of the scale.
pub const DIFFERENCE_SCALE: f32 = 128.0;

/// Which map.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum MapKind {
    /// Mean absolute difference of the channels.
    Difference,
    /// Local SSIM of the window centred on each pixel.
    Ssim,
}

impl MapKind {
    /// Its name in the view.
    pub fn label(self) -> &'static str {
        match self {
            MapKind::Difference => "|difference|",
            MapKind::Ssim => "SSIM map",
        }
    }

    /// The value of `t` = 0 and `t` = 1 on the scale, as written under the legend.
    fn ends(self) -> (&'static str, &'static str) {
        match self {
            MapKind::Difference => ("0", "≥ 128 of 255"),
            MapKind::Ssim => ("SSIM 1", "≤ 0"),
        }
    }

    /// Where a map value falls on the colour scale (0 alike … 1 far apart).
    pub fn position(self, value: f64) -> f64 {
        match self {
            MapKind::Difference => value / f64::from(DIFFERENCE_SCALE),
            MapKind::Ssim => 1.0 - value,
        }
        .clamp(0.0, 1.0)
    }
}

/// The colour of the scale at `t` in 0..=1, in gamma space 0..=1 (what the shader computes).
pub fn scale_colour(t: f64) -> [f64; 3] {
    let x = t.clamp(0.0, 1.0) * 4.0;
    let i = (x.floor() as usize).min(3);
    let f = x - i as f64;
    std::array::from_fn(|c| {
        let (a, b) = (f64::from(STOPS[i][c]) / 255.0, f64::from(STOPS[i + 1][c]) / 255.0);
        a + (b - a) * f
    })
}

/// One heat map to draw: the face shown and the face it is compared with.
#[derive(Clone)]
pub struct Heatmap {
    /// Which slot of the GPU resources this map uses (one per map on screen).
    pub id: egui::Id,
    /// The face drawn under the map.
    pub face: Arc<RgbImage>,
    /// The face it is compared with (the same size).
    pub reference: Arc<RgbImage>,
    /// Which map.
    pub kind: MapKind,
    /// 0: the face alone … 1: the map alone.
    pub blend: f32,
}

/// The pipeline, made once per window, and one slot of textures and uniforms per map.
pub struct HeatmapResources {
    pipeline: wgpu::RenderPipeline,
    layout: wgpu::BindGroupLayout,
    linear_target: bool,
    slots: HashMap<egui::Id, Slot>,
}

struct Slot {
    size: (u32, u32),
    face: wgpu::Texture,
    reference: wgpu::Texture,
    params: wgpu::Buffer,
    bind_group: wgpu::BindGroup,
    /// The images last uploaded, so unchanged faces are not uploaded again.
    uploaded: Option<(Arc<RgbImage>, Arc<RgbImage>)>,
}

/// Bytes of the shader's `Params`.
const PARAMS_SIZE: u64 = 4 * 16 + 3 * 16 + 5 * 16;

/// A map placed on the screen: what the paint callback draws.
struct Placed {
    map: Heatmap,
    /// Where, in points.
    rect: egui::Rect,
}

/// Makes the heat map's pipeline for the window's renderer and keeps it with the renderer's
/// callback resources. Fails, saying why, without a wgpu renderer or when the device refuses
/// the shader or pipeline (then nothing is installed and no map is drawn).
pub fn install(render_state: Option<&egui_wgpu::RenderState>) -> anyhow::Result<()> {
    let state = render_state.ok_or_else(|| anyhow::anyhow!("this window draws without wgpu, and the map is a wgpu shader"))?;
    let device = &state.device;
    let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
    let module = device.create_shader_module(wgpu::ShaderModuleDescriptor { label: Some("heatmap"), source: wgpu::ShaderSource::Wgsl(SHADER.into()) });
    let texture_entry = |binding| wgpu::BindGroupLayoutEntry {
        binding,
        visibility: wgpu::ShaderStages::FRAGMENT,
        ty: wgpu::BindingType::Texture { multisampled: false, sample_type: wgpu::TextureSampleType::Float { filterable: false }, view_dimension: wgpu::TextureViewDimension::D2 },
        count: None,
    };
    let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
        label: Some("heatmap"),
        entries: &[
            wgpu::BindGroupLayoutEntry {
                binding: 0,
                visibility: wgpu::ShaderStages::FRAGMENT,
                ty: wgpu::BindingType::Buffer { ty: wgpu::BufferBindingType::Uniform, has_dynamic_offset: false, min_binding_size: wgpu::BufferSize::new(PARAMS_SIZE) },
                count: None,
            },
            texture_entry(1),
            texture_entry(2),
        ],
    });
    let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor { label: Some("heatmap"), bind_group_layouts: &[Some(&layout)], immediate_size: 0 });
    let pipeline = device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
        label: Some("heatmap"),
        layout: Some(&pipeline_layout),
        vertex: wgpu::VertexState { module: &module, entry_point: Some("vs_main"), buffers: &[], compilation_options: Default::default() },
        primitive: wgpu::PrimitiveState::default(),
        depth_stencil: None,
        // eframe's and kittest's egui passes: one sample, no depth buffer.
        multisample: wgpu::MultisampleState::default(),
        fragment: Some(wgpu::FragmentState {
            module: &module,
            entry_point: Some("fs_main"),
            targets: &[Some(wgpu::ColorTargetState { format: state.target_format, blend: None, write_mask: wgpu::ColorWrites::ALL })],
            compilation_options: Default::default(),
        }),
        multiview_mask: None,
        cache: None,
    });
    if let Some(error) = pollster::block_on(scope.pop()) {
        anyhow::bail!("the GPU refused the map's shader: {error}");
    }
    let resources = HeatmapResources { pipeline, layout, linear_target: state.target_format.is_srgb(), slots: HashMap::new() };
    state.renderer.write().callback_resources.insert(resources);
    Ok(())
}

impl Heatmap {
    /// The shader's `Params`, little-endian, for the map at `placement` (framebuffer pixels:
    /// left, top, width, height).
    fn params(&self, linear_target: bool, placement: [f32; 4]) -> Vec<u8> {
        let (w, h) = self.face.dimensions();
        let side = ssim_window(w as usize, h as usize);
        let mut taps = gaussian(side);
        taps.resize(12, 0.0);
        let kind = match self.kind {
            MapKind::Difference => 0u32,
            MapKind::Ssim => 1,
        };
        let mut bytes = Vec::with_capacity(PARAMS_SIZE as usize);
        let mut words = |values: &[u32]| values.iter().for_each(|v| bytes.extend(v.to_le_bytes()));
        words(&[w, h, kind, side as u32]);
        words(&[self.blend.to_bits(), DIFFERENCE_SCALE.to_bits(), (SSIM_C1 as f32).to_bits(), (SSIM_C2 as f32).to_bits()]);
        words(&[u32::from(linear_target), 0, 0, 0]);
        words(&placement.map(f32::to_bits));
        words(&taps.iter().map(|&t| (t as f32).to_bits()).collect::<Vec<_>>());
        for stop in STOPS {
            words(&[stop[0], stop[1], stop[2]].map(|c| (f32::from(c) / 255.0).to_bits()));
            words(&[0]);
        }
        bytes
    }
}

fn face_texture(device: &wgpu::Device, (width, height): (u32, u32)) -> wgpu::Texture {
    device.create_texture(&wgpu::TextureDescriptor {
        label: Some("heatmap face"),
        size: wgpu::Extent3d { width, height, depth_or_array_layers: 1 },
        mip_level_count: 1,
        sample_count: 1,
        dimension: wgpu::TextureDimension::D2,
        format: wgpu::TextureFormat::Rgba8Unorm,
        usage: wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
        view_formats: &[],
    })
}

fn upload(queue: &wgpu::Queue, texture: &wgpu::Texture, image: &RgbImage) {
    let rgba: Vec<u8> = image.pixels().flat_map(|p| [p.0[0], p.0[1], p.0[2], 255]).collect();
    let (width, height) = image.dimensions();
    queue.write_texture(
        texture.as_image_copy(),
        &rgba,
        wgpu::TexelCopyBufferLayout { offset: 0, bytes_per_row: Some(4 * width), rows_per_image: Some(height) },
        wgpu::Extent3d { width, height, depth_or_array_layers: 1 },
    );
}

impl egui_wgpu::CallbackTrait for Placed {
    fn prepare(
        &self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        screen: &egui_wgpu::ScreenDescriptor,
        _encoder: &mut wgpu::CommandEncoder,
        resources: &mut egui_wgpu::CallbackResources,
    ) -> Vec<wgpu::CommandBuffer> {
        let Self { map, rect } = self;
        let ppp = screen.pixels_per_point;
        let placement = [rect.left() * ppp, rect.top() * ppp, rect.width() * ppp, rect.height() * ppp];
        let Some(resources) = resources.get_mut::<HeatmapResources>() else { return Vec::new() };
        let size = map.face.dimensions();
        if map.reference.dimensions() != size || size.0 == 0 || size.1 == 0 {
            return Vec::new();
        }
        let stale = resources.slots.get(&map.id).is_none_or(|slot| slot.size != size);
        if stale {
            let (face, reference) = (face_texture(device, size), face_texture(device, size));
            let params = device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("heatmap params"),
                size: PARAMS_SIZE,
                usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            let view = |t: &wgpu::Texture| t.create_view(&wgpu::TextureViewDescriptor::default());
            let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some("heatmap"),
                layout: &resources.layout,
                entries: &[
                    wgpu::BindGroupEntry { binding: 0, resource: params.as_entire_binding() },
                    wgpu::BindGroupEntry { binding: 1, resource: wgpu::BindingResource::TextureView(&view(&face)) },
                    wgpu::BindGroupEntry { binding: 2, resource: wgpu::BindingResource::TextureView(&view(&reference)) },
                ],
            });
            resources.slots.insert(map.id, Slot { size, face, reference, params, bind_group, uploaded: None });
        }
        let linear_target = resources.linear_target;
        let Some(slot) = resources.slots.get_mut(&map.id) else { return Vec::new() };
        let unchanged = slot.uploaded.as_ref().is_some_and(|(face, reference)| Arc::ptr_eq(face, &map.face) && Arc::ptr_eq(reference, &map.reference));
        if !unchanged {
            upload(queue, &slot.face, &map.face);
            upload(queue, &slot.reference, &map.reference);
            slot.uploaded = Some((map.face.clone(), map.reference.clone()));
        }
        queue.write_buffer(&slot.params, 0, &map.params(linear_target, placement));
        Vec::new()
    }

    fn paint(&self, _info: egui::PaintCallbackInfo, pass: &mut wgpu::RenderPass<'static>, resources: &egui_wgpu::CallbackResources) {
        let Some(resources) = resources.get::<HeatmapResources>() else { return };
        let Some(slot) = resources.slots.get(&self.map.id).filter(|slot| slot.uploaded.is_some()) else { return };
        pass.set_pipeline(&resources.pipeline);
        pass.set_bind_group(0, &slot.bind_group, &[]);
        pass.draw(0..3, 0..1);
    }
}

/// Paints `map` into `rect` (the window's renderer must have the resources of [`install`]).
pub fn paint(ui: &mut egui::Ui, rect: egui::Rect, map: Heatmap) {
    ui.painter().add(egui_wgpu::Callback::new_paint_callback(rect, Placed { map, rect }));
}

/// The colour scale as a bar with its two ends labelled.
pub fn legend_ui(ui: &mut egui::Ui, kind: MapKind, width: f32) {
    let (rect, _) = ui.allocate_exact_size(egui::vec2(width, 10.0), egui::Sense::hover());
    let mut mesh = egui::Mesh::default();
    let steps = 32;
    for i in 0..=steps {
        let t = i as f64 / steps as f64;
        let [r, g, b] = scale_colour(t).map(|c| (c * 255.0).round() as u8);
        let colour = egui::Color32::from_rgb(r, g, b);
        let x = rect.left() + rect.width() * t as f32;
        mesh.colored_vertex(egui::pos2(x, rect.top()), colour);
        mesh.colored_vertex(egui::pos2(x, rect.bottom()), colour);
        if i > 0 {
            let base = 2 * (i - 1);
            mesh.add_triangle(base, base + 1, base + 2);
            mesh.add_triangle(base + 1, base + 3, base + 2);
        }
    }
    ui.painter().add(mesh);
    let (low, high) = kind.ends();
    ui.horizontal(|ui| {
        ui.set_width(width);
        ui.small(low);
        ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| ui.small(high));
    });
}
