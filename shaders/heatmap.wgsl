// A comparison map over a face, drawn by the GPU inside an egui paint callback
// (src/app/heatmap.rs). Each fragment finds the image pixel under it, computes the map's value
// there from the two faces, turns it into a colour of the scale, and blends it over the face.
//
// Two maps, the same as the CPU's in src/eval/image_quality.rs:
// - difference: the mean absolute difference of the three channels, in 0..255;
// - SSIM: the local SSIM of the Gaussian window centred on the pixel, on BT.601 luma in 0..255,
//   with eval's window, taps and constants (all passed in `params` from the CPU's own values),
//   so the mean over the map is the SSIM eval reports. Pixels no window is centred on show the
//   face alone.

struct Params {
    // width, height, kind (0 difference, 1 SSIM), window side
    shape: vec4<u32>,
    // blend (0 face … 1 map), difference at the scale's end, C1, C2
    numbers: vec4<f32>,
    // x: 1 when the target stores linear colour (an sRGB format)
    output_format: vec4<u32>,
    // the map's rectangle on the framebuffer, in pixels: left, top, width, height (egui clamps
    // the viewport to the screen, so the rectangle is passed whole)
    placement: vec4<f32>,
    // the window's 1-D Gaussian taps, four per vector
    taps: array<vec4<f32>, 3>,
    // the colour scale: five stops at 0, 1/4, 1/2, 3/4 and 1, in gamma space
    stops: array<vec4<f32>, 5>,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var face: texture_2d<f32>;
@group(0) @binding(2) var reference: texture_2d<f32>;

// One triangle that covers the viewport (egui sets it to the callback's rectangle).
@vertex
fn vs_main(@builtin(vertex_index) index: u32) -> @builtin(position) vec4<f32> {
    let corner = vec2<f32>(f32((index << 1u) & 2u), f32(index & 2u));
    return vec4<f32>(corner.x * 2.0 - 1.0, 1.0 - corner.y * 2.0, 0.0, 1.0);
}

fn tap(i: u32) -> f32 {
    return params.taps[i / 4u][i % 4u];
}

fn luma(texture: texture_2d<f32>, at: vec2<i32>) -> f32 {
    let c = textureLoad(texture, at, 0).rgb * 255.0;
    return 0.299 * c.r + 0.587 * c.g + 0.114 * c.b;
}

// The local SSIM of the window whose top-left corner is `corner`.
fn local_ssim(corner: vec2<i32>) -> f32 {
    let side = i32(params.shape.w);
    var mx = 0.0;
    var my = 0.0;
    for (var j = 0; j < side; j++) {
        for (var i = 0; i < side; i++) {
            let w = tap(u32(j)) * tap(u32(i));
            let at = corner + vec2<i32>(i, j);
            mx += w * luma(face, at);
            my += w * luma(reference, at);
        }
    }
    // Moments about the means (more exact in f32 than E[x²] − E[x]²).
    var vx = 0.0;
    var vy = 0.0;
    var cov = 0.0;
    for (var j = 0; j < side; j++) {
        for (var i = 0; i < side; i++) {
            let w = tap(u32(j)) * tap(u32(i));
            let at = corner + vec2<i32>(i, j);
            let dx = luma(face, at) - mx;
            let dy = luma(reference, at) - my;
            vx += w * dx * dx;
            vy += w * dy * dy;
            cov += w * dx * dy;
        }
    }
    let c1 = params.numbers.z;
    let c2 = params.numbers.w;
    return ((2.0 * mx * my + c1) * (2.0 * cov + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2));
}

// The colour scale at `t` in 0..1 (0: alike, 1: far apart).
fn scale(t: f32) -> vec3<f32> {
    let x = clamp(t, 0.0, 1.0) * 4.0;
    let i = min(u32(floor(x)), 3u);
    return mix(params.stops[i].rgb, params.stops[i + 1u].rgb, x - f32(i));
}

fn to_linear(c: vec3<f32>) -> vec3<f32> {
    let low = c / 12.92;
    let high = pow((c + 0.055) / 1.055, vec3<f32>(2.4));
    return select(high, low, c <= vec3<f32>(0.04045));
}

@fragment
fn fs_main(@builtin(position) position: vec4<f32>) -> @location(0) vec4<f32> {
    let size = vec2<i32>(params.shape.xy);
    let uv = (position.xy - params.placement.xy) / params.placement.zw;
    let pixel = clamp(vec2<i32>(floor(uv * vec2<f32>(size))), vec2<i32>(0), size - 1);
    let shown = textureLoad(face, pixel, 0).rgb;
    var colour = shown;
    if params.shape.z == 0u {
        let difference = abs(shown - textureLoad(reference, pixel, 0).rgb) * 255.0;
        let value = (difference.r + difference.g + difference.b) / 3.0;
        colour = mix(shown, scale(value / params.numbers.y), params.numbers.x);
    } else {
        let side = i32(params.shape.w);
        let corner = pixel - vec2<i32>((side - 1) / 2);
        if all(corner >= vec2<i32>(0)) && all(corner + side <= size) {
            colour = mix(shown, scale(1.0 - local_ssim(corner)), params.numbers.x);
        }
    }
    if params.output_format.x == 1u {
        colour = to_linear(colour);
    }
    return vec4<f32>(colour, 1.0);
}
