//! Choosing the burn device: burn-wgpu on a real GPU adapter, burn's flex backend on the CPU,
//! burn's CUDA backend where asked for ([`cuda`]). The choice is always explained, so a person
//! knows why training is fast or slow.

pub mod cuda;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use burn::backend::{Backend, Dispatch};
use burn::tensor::wgpu::wgpu;
use burn::tensor::{Device, DeviceKind};
use cubecl_runtime::config::cache::CacheConfig;
use cubecl_runtime::config::{CubeClRuntimeConfig, RuntimeConfig, TypeNameFormatLevel, type_name_format};
use cubecl_runtime::logging::{LaunchObservation, LaunchObserver};

/// What the person asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum DeviceChoice {
    /// A real GPU when wgpu finds one, otherwise the CPU backend.
    Auto,
    /// burn-wgpu on the first adapter wgpu offers (a software adapter counts).
    Gpu,
    /// burn's CUDA backend on the first NVIDIA GPU (a build with the `cuda` feature).
    Cuda,
    /// burn's flex CPU backend.
    Cpu,
}

/// A device ready for tensors, and what it is.
#[derive(Clone, Debug)]
pub struct ChosenDevice {
    /// The burn device (without autodiff).
    pub device: Device,
    /// e.g. `wgpu: NVIDIA H100 (Vulkan)`, `cuda: NVIDIA H100 80GB HBM3` or `cpu: burn flex`.
    pub name: String,
    /// Why this device was picked.
    pub reason: String,
    /// Whether the device is a software (CPU-emulated) GPU adapter.
    pub software_adapter: bool,
}

/// The adapters wgpu can see on the primary APIs (Vulkan, Metal, DX12), which burn-wgpu uses.
fn adapters() -> Vec<wgpu::AdapterInfo> {
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
    pollster::block_on(instance.enumerate_adapters(wgpu::Backends::PRIMARY))
        .into_iter()
        .map(|adapter| adapter.get_info())
        .collect()
}

fn describe(info: &wgpu::AdapterInfo) -> String {
    format!("{} ({:?}, {:?})", info.name, info.backend, info.device_type)
}

/// Picks a device for `choice`; `Err` says why a requested GPU cannot be used.
pub fn choose(choice: DeviceChoice) -> anyhow::Result<ChosenDevice> {
    let cpu = |reason: String| ChosenDevice {
        device: Device::flex(),
        name: "cpu: burn flex".to_owned(),
        reason,
        software_adapter: false,
    };
    match choice {
        DeviceChoice::Cpu => Ok(cpu("--device cpu was asked for".to_owned())),
        DeviceChoice::Cuda => {
            let (device, name) = cuda::start()?;
            Ok(ChosenDevice { device, name, reason: "--device cuda was asked for".to_owned(), software_adapter: false })
        }
        DeviceChoice::Gpu => {
            let found = adapters();
            let Some(info) = found.first() else {
                anyhow::bail!("--device gpu: wgpu found no adapter (no Vulkan, Metal or DX12 driver); use --device cpu");
            };
            let software = info.device_type == wgpu::DeviceType::Cpu;
            let kind = if software { DeviceKind::Cpu } else { DeviceKind::DefaultDevice };
            let device = init_wgpu(kind)?;
            Ok(ChosenDevice {
                name: name_with_kernel_language(format!("wgpu: {}", describe(info)), &device),
                device,
                reason: if software {
                    "--device gpu was asked for; the only adapter is a software one, so expect minutes of shader compilation and slow steps".to_owned()
                } else {
                    "--device gpu was asked for".to_owned()
                },
                software_adapter: software,
            })
        }
        DeviceChoice::Auto => {
            let found = adapters();
            match found.iter().find(|info| info.device_type != wgpu::DeviceType::Cpu) {
                Some(info) => match init_wgpu(DeviceKind::DefaultDevice) {
                    Ok(device) => Ok(ChosenDevice {
                        name: name_with_kernel_language(format!("wgpu: {}", describe(info)), &device),
                        device,
                        reason: "auto: found a hardware GPU adapter".to_owned(),
                        software_adapter: false,
                    }),
                    Err(error) => Ok(cpu(format!("auto: the GPU {} failed to start ({error:#}), so the CPU backend runs instead", describe(info)))),
                },
                None if found.is_empty() => Ok(cpu("auto: wgpu found no GPU adapter".to_owned())),
                None => Ok(cpu(format!(
                    "auto: wgpu found only software adapters ({}), and the CPU backend is faster than those",
                    found.iter().map(describe).collect::<Vec<_>>().join("; ")
                ))),
            }
        }
    }
}

/// `name` with the language burn compiles its GPU kernels to on `device` (`SPIR-V` on a Vulkan
/// adapter whose driver has what cubecl's SPIR-V compiler needs, `WGSL` elsewhere), as in
/// `wgpu: NVIDIA H100 (Vulkan, DiscreteGpu), SPIR-V kernels`.
pub fn name_with_kernel_language(name: String, device: &Device) -> String {
    let runtime = Dispatch::name(device.as_dispatch());
    let language = [("wgpu<spirv>", "SPIR-V"), ("wgpu<wgsl>", "WGSL"), ("wgpu<msl>", "MSL")].into_iter().find(|(tag, _)| runtime.contains(tag));
    match language {
        Some((_, language)) => format!("{name}, {language} kernels"),
        None => name,
    }
}

/// The tensor-core tiles (cooperative matrices) the GPU device `chosen` (made by [`choose`])
/// offers cubecl's kernels,
/// as `f16×f16→f32 16×16×16`: none with WGSL kernels, which have no such instructions, nor on a
/// card or driver without them. burn's matrix products and implicit-GEMM convolutions use them
/// only for the element types listed (the model computes in f32).
pub fn tensor_core_tiles(chosen: &ChosenDevice) -> Vec<String> {
    use cubecl::wgpu::{AutoCompiler, WgpuDevice, WgpuDeviceKind, WgpuRuntime};
    use cubecl_runtime::runtime::Runtime;
    if chosen.name.starts_with("cuda") {
        return cuda::tensor_core_tiles();
    }
    if !chosen.name.starts_with("wgpu") {
        return Vec::new();
    }
    // `choose` asks burn for the default device, or the CPU one where the only adapter is.
    let device = WgpuDevice::new(if chosen.software_adapter { WgpuDeviceKind::Cpu } else { WgpuDeviceKind::DefaultDevice });
    describe_tiles(&WgpuRuntime::<AutoCompiler>::client(&device).properties().features.matmul.cmma)
}

/// Tiles as `f16×f16→f32 16×16×16`.
fn describe_tiles(tiles: &std::collections::BTreeSet<cubecl::features::MmaConfig>) -> Vec<String> {
    tiles.iter().map(|tile| format!("{}×{}→{} {}×{}×{}", tile.a_type, tile.b_type, tile.cd_type, tile.m, tile.n, tile.k)).collect()
}

fn init_wgpu(kind: DeviceKind) -> anyhow::Result<Device> {
    Device::wgpu_options()
        .device_kind(kind)
        .init()
        .map_err(|error| anyhow::anyhow!("the wgpu device failed to start: {error}"))
}

/// GPU kernel launches, by kernel.
#[derive(Debug, Default)]
pub struct KernelLaunches {
    /// Launches of each kernel, by its short name (cubecl's, without module path or generics).
    pub by_kernel: std::collections::BTreeMap<String, usize>,
}

impl KernelLaunches {
    /// All launches.
    pub fn total(&self) -> usize {
        self.by_kernel.values().sum()
    }

    /// The `n` kernels launched most, most first.
    pub fn commonest(&self, n: usize) -> Vec<(&str, usize)> {
        let mut kernels: Vec<(&str, usize)> = self.by_kernel.iter().map(|(name, &count)| (name.as_str(), count)).collect();
        kernels.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        kernels.truncate(n);
        kernels
    }
}

/// Counts the GPU kernels that `work` launches: every cubecl dispatch the process issues while it
/// runs, on whatever adapter (a software one included), so the kernels per training step can be
/// tracked on a machine without a GPU. The CPU backend (flex) launches none.
pub fn count_gpu_kernels<T>(work: impl FnOnce() -> T) -> (T, KernelLaunches) {
    let counter = Arc::new(LaunchCounter::default());
    let observation = LaunchObservation::new(counter.clone());
    let result = work();
    drop(observation);
    let raw = std::mem::take(&mut *counter.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
    let mut launches = KernelLaunches::default();
    for (name, count) in raw {
        *launches.by_kernel.entry(type_name_format(name, TypeNameFormatLevel::Short)).or_default() += count;
    }
    (result, launches)
}

/// Launches seen while installed, by the kernel's full name.
#[derive(Default)]
struct LaunchCounter(Mutex<HashMap<&'static str, usize>>);

impl LaunchObserver for LaunchCounter {
    fn launched(&self, kernel: &'static str) {
        *self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).entry(kernel).or_default() += 1;
    }
}

/// Where the GPU backend keeps what it measured and compiled (its autotune results), so that a
/// second launch does not tune again: `$DRGAN_STUDIO_CACHE/gpu-tuning`, else the user's cache
/// folder (`~/.cache/drgan-studio/gpu-tuning` on Linux). cubecl's own default depends on the
/// working folder (`target/environment` of the outermost Cargo project above it, else
/// `~/.cache/cubecl`); a `cubecl.toml` that names a path still wins. Call before any GPU work.
pub fn keep_gpu_tuning() {
    let root = std::env::var_os("DRGAN_STUDIO_CACHE").filter(|dir| !dir.is_empty()).map(std::path::PathBuf::from).or_else(|| dirs::cache_dir().map(|dir| dir.join("drgan-studio")));
    let Some(root) = root else { return };
    let mut config = CubeClRuntimeConfig::from_current_dir().override_from_env();
    if matches!(config.environment.path, CacheConfig::Target) {
        let dir = root.join("gpu-tuning");
        // cubecl would keep the results in memory only, silently; say so once.
        if let Err(error) = std::fs::create_dir_all(&dir) {
            eprintln!("note: the GPU's tuning results cannot be kept in {} ({error}), so each launch tunes its kernels again", dir.display());
        }
        config.environment.path = CacheConfig::Directory(dir);
    }
    // `false` when something read the configuration first: cubecl's own default then stays.
    let _ = CubeClRuntimeConfig::try_set(config);
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, Tensor};

    use super::{DeviceChoice, KernelLaunches, choose, count_gpu_kernels, tensor_core_tiles};

    #[test]
    fn kernels_are_counted_on_a_gpu_adapter_and_the_cpu_backend_launches_none() {
        let add_one = |device: &Device| (Tensor::<1>::ones([8], device) + 1.0).into_data();
        let (_, on_cpu) = count_gpu_kernels(|| add_one(&Device::flex()));
        assert_eq!(on_cpu.total(), 0);
        // CI has Mesa's lavapipe; a machine with no Vulkan driver at all has nothing to count on.
        let Ok(gpu) = choose(DeviceChoice::Gpu) else {
            eprintln!("no wgpu adapter: the GPU half of this test did not run");
            return;
        };
        // The default build compiles every kernel to WGSL, which has no tensor-core tiles; a
        // `spirv` build compiles to SPIR-V where the driver has what that needs.
        if cfg!(feature = "spirv") {
            assert!(gpu.name.ends_with(", SPIR-V kernels") || gpu.name.ends_with(", WGSL kernels"), "{}", gpu.name);
        } else {
            assert!(gpu.name.ends_with(", WGSL kernels"), "{}", gpu.name);
            assert_eq!(tensor_core_tiles(&gpu), Vec::<String>::new());
        }
        let (data, on_gpu) = count_gpu_kernels(|| add_one(&gpu.device));
        assert_eq!(data.try_to_vec::<f32>().ok(), Some(vec![2.0; 8]));
        assert!(on_gpu.total() >= 1, "no launch seen: {on_gpu:?}");
    }

    #[test]
    fn the_commonest_kernels_come_most_first_then_by_name() {
        let launches = KernelLaunches { by_kernel: [("b", 2), ("a", 2), ("c", 5), ("d", 1)].map(|(n, c)| (n.to_owned(), c)).into() };
        assert_eq!(launches.total(), 10);
        assert_eq!(launches.commonest(3), [("c", 5), ("a", 2), ("b", 2)]);
    }
}
