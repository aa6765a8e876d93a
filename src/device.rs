//! Choosing the burn device: burn-wgpu on a real GPU adapter, burn's flex backend on the CPU.
//! The choice is always explained, so a person knows why training is fast or slow.

use burn::tensor::wgpu::wgpu;
use burn::tensor::{Device, DeviceKind};

/// What the person asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum DeviceChoice {
    /// A real GPU when wgpu finds one, otherwise the CPU backend.
    Auto,
    /// burn-wgpu on the first adapter wgpu offers (a software adapter counts).
    Gpu,
    /// burn's flex CPU backend.
    Cpu,
}

/// A device ready for tensors, and what it is.
#[derive(Clone, Debug)]
pub struct ChosenDevice {
    /// The burn device (without autodiff).
    pub device: Device,
    /// e.g. `wgpu: NVIDIA H100 (Vulkan)` or `cpu: burn flex`.
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
        DeviceChoice::Gpu => {
            let found = adapters();
            let Some(info) = found.first() else {
                anyhow::bail!("--device gpu: wgpu found no adapter (no Vulkan, Metal or DX12 driver); use --device cpu");
            };
            let software = info.device_type == wgpu::DeviceType::Cpu;
            let kind = if software { DeviceKind::Cpu } else { DeviceKind::DefaultDevice };
            let device = init_wgpu(kind)?;
            Ok(ChosenDevice {
                device,
                name: format!("wgpu: {}", describe(info)),
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
                        device,
                        name: format!("wgpu: {}", describe(info)),
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

fn init_wgpu(kind: DeviceKind) -> anyhow::Result<Device> {
    Device::wgpu_options()
        .device_kind(kind)
        .init()
        .map_err(|error| anyhow::anyhow!("the wgpu device failed to start: {error}"))
}
