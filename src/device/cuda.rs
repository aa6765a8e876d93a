//! burn's CUDA backend (`--device cuda`, built with the `cuda` feature). NVIDIA's driver and
//! NVRTC (which compiles the kernels, written as CUDA C++ by cubecl) are loaded when the device
//! starts, so a build with the backend runs on any machine, and one without CUDA gets a reason
//! instead of a crash.

use burn::tensor::Device;

/// Whether this build has the CUDA backend (the `cuda` feature).
pub const BUILT: bool = cfg!(feature = "cuda");

/// The first CUDA GPU as a burn device, with its name (`cuda: NVIDIA H100 80GB HBM3, CUDA C++
/// kernels`), once a first kernel has run on it; `Err` says what is missing.
#[cfg(feature = "cuda")]
pub fn start() -> anyhow::Result<(Device, String)> {
    use cudarc::driver::{result, sys};
    // SAFETY: each only tries to open a shared library by the names CUDA installs it under.
    let (driver, nvrtc) = unsafe { (sys::is_culib_present(), cudarc::nvrtc::sys::is_culib_present()) };
    anyhow::ensure!(driver, "--device cuda: no NVIDIA driver library (libcuda.so) was found; use --device gpu or --device cpu");
    anyhow::ensure!(
        nvrtc,
        "--device cuda: the NVIDIA driver is here, but not NVRTC (libnvrtc.so), which compiles the kernels: install CUDA's NVRTC \
         (for example `pip install nvidia-cuda-nvrtc-cu12`) and put the folder holding libnvrtc.so on LD_LIBRARY_PATH"
    );
    let failed = |error: cudarc::driver::DriverError| anyhow::anyhow!("--device cuda: the CUDA driver failed to start ({error})");
    result::init().map_err(failed)?;
    anyhow::ensure!(result::device::get_count().map_err(failed)? > 0, "--device cuda: the CUDA driver sees no GPU");
    let name = result::device::get(0).and_then(result::device::get_name).map_err(failed)?;
    let device = Device::cuda(0);
    // cubecl starts the device on its first use and panics where that fails (an NVRTC too old for
    // the driver, say): one small kernel here turns that into an error the caller can show.
    let first = std::panic::catch_unwind(|| (burn::tensor::Tensor::<1>::ones([1], &device) + 1.0).into_data().try_to_vec::<f32>());
    match first {
        Ok(Ok(values)) if values == [2.0] => Ok((device, format!("cuda: {name}, CUDA C++ kernels"))),
        Ok(Ok(values)) => anyhow::bail!("--device cuda: {name} computed 1 + 1 = {values:?}"),
        Ok(Err(error)) => anyhow::bail!("--device cuda: {name} could not return a first result ({error:?})"),
        Err(panic) => {
            let reason = panic.downcast_ref::<String>().cloned().or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()));
            anyhow::bail!("--device cuda: {name} failed to start ({})", reason.unwrap_or_else(|| "no reason given".to_owned()))
        }
    }
}

/// Always `Err`: this build has no CUDA backend.
#[cfg(not(feature = "cuda"))]
pub fn start() -> anyhow::Result<(Device, String)> {
    anyhow::bail!("--device cuda: this build has no CUDA backend; build the studio with `cargo build --release --features cuda`, or use --device gpu")
}

/// The tensor-core tiles the first CUDA GPU offers cubecl's kernels (see
/// [`super::tensor_core_tiles`]); call after [`start`] succeeded.
#[cfg(feature = "cuda")]
pub fn tensor_core_tiles() -> Vec<String> {
    use cubecl::cuda::{CudaDevice, CudaRuntime};
    use cubecl_runtime::runtime::Runtime;
    super::describe_tiles(&CudaRuntime::client(&CudaDevice::new(0)).properties().features.matmul.cmma)
}

/// None: this build has no CUDA backend.
#[cfg(not(feature = "cuda"))]
pub fn tensor_core_tiles() -> Vec<String> {
    Vec::new()
}
