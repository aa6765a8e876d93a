//! burn's CUDA backend (`--device cuda`, built with the `cuda` feature). NVIDIA's driver and
//! NVRTC (which compiles the kernels, written as CUDA C++ by cubecl) are loaded when the device
//! starts, so a build with the backend runs on any machine, and one without CUDA gets a reason
//! instead of a crash.

use burn::tensor::Device;

/// Whether this build has the CUDA backend (the `cuda` feature).
pub const BUILT: bool = cfg!(feature = "cuda");

/// Whether NVIDIA's driver library can be loaded here (false in a build without the backend).
#[cfg(feature = "cuda")]
pub fn driver_found() -> bool {
    // SAFETY: only tries to open a shared library by the names CUDA installs it under.
    unsafe { cudarc::driver::sys::is_culib_present() }
}

/// Whether NVIDIA's driver library can be loaded here (false in a build without the backend).
#[cfg(not(feature = "cuda"))]
pub fn driver_found() -> bool {
    false
}

/// The first CUDA GPU as a burn device, with its name (`cuda: NVIDIA H100 80GB HBM3, CUDA C++
/// kernels`), once a first kernel has run on it; `Err` says what is missing.
#[cfg(feature = "cuda")]
pub fn start() -> anyhow::Result<(Device, String)> {
    use cudarc::driver::{result, sys};
    anyhow::ensure!(driver_found(), "--device cuda: no NVIDIA driver library (libcuda.so) was found; use --device gpu or --device cpu");
    // SAFETY: only tries to open a shared library by the names CUDA installs it under.
    anyhow::ensure!(
        unsafe { cudarc::nvrtc::sys::is_culib_present() },
        "--device cuda: the NVIDIA driver is here, but not NVRTC, which compiles the kernels: install the CUDA toolkit \
         (or `pip install nvidia-cuda-nvrtc-cu12`) and put the folder holding libnvrtc.so (or libnvrtc.so.12) on LD_LIBRARY_PATH"
    );
    anyhow::ensure!(
        cubecl::cuda::install::cuda_path().is_some(),
        "--device cuda: the CUDA headers the kernels include (cuda_fp16.h, mma.h) were not found: install the CUDA toolkit \
         (/usr/local/cuda) or set CUDA_PATH to a folder whose include/ holds them"
    );
    let failed = |error: cudarc::driver::DriverError| anyhow::anyhow!("--device cuda: the CUDA driver failed to start ({error})");
    result::init().map_err(failed)?;
    let (mut driver, mut major, mut minor) = (0, 0, 0);
    // SAFETY: each writes into the integers given, which outlive the calls.
    let versions_read = unsafe {
        sys::cuDriverGetVersion(&mut driver) == sys::CUresult::CUDA_SUCCESS
            && cudarc::nvrtc::sys::nvrtcVersion(&mut major, &mut minor) == cudarc::nvrtc::sys::nvrtcResult::NVRTC_SUCCESS
    };
    // The driver loads PTX of its own CUDA version or older only.
    anyhow::ensure!(
        !versions_read || major * 1000 + minor * 10 <= driver,
        "--device cuda: NVRTC is of CUDA {major}.{minor}, newer than the driver's CUDA {}.{}, which cannot load what it makes; \
         use the NVRTC of CUDA {}.x or older (LD_LIBRARY_PATH)",
        driver / 1000,
        driver % 1000 / 10,
        driver / 1000
    );
    anyhow::ensure!(result::device::get_count().map_err(failed)? > 0, "--device cuda: the CUDA driver sees no GPU");
    let name = result::device::get(0).and_then(result::device::get_name).map_err(failed)?;
    let started = |error: String| anyhow::anyhow!("--device cuda: {name} failed to start ({error})");
    // cubecl starts the device on a thread of its own and panics there where that fails; the
    // caller then panics too, with nothing but a closed channel to say. So the device starts here
    // through cubecl alone (burn's fusion would hold a lock of its own across the start), and
    // each panic's message on any thread meanwhile is kept, to say why.
    recording_panics(|| {
        use cubecl_runtime::runtime::Runtime;
        cubecl::cuda::CudaRuntime::client(&cubecl::cuda::CudaDevice::new(0)).properties().hardware.plane_size_max
    })
    .map_err(started)?;
    let device = Device::cuda(0);
    let values = recording_panics(|| (burn::tensor::Tensor::<1>::ones([1], &device) + 1.0).into_data().try_to_vec::<f32>()).map_err(started)?;
    match values {
        Ok(values) if values == [2.0] => Ok((device, format!("cuda: {name}, CUDA C++ kernels"))),
        other => Err(started(format!("its first kernel computed 1 + 1 = {other:?}"))),
    }
}

/// `work`'s result, or the message of the first panic any thread raised while it ran (cubecl's
/// own, where its device thread panicked and `work` saw only a closed channel). Panics are still
/// reported as usual meanwhile.
#[cfg(feature = "cuda")]
fn recording_panics<T>(work: impl FnOnce() -> T) -> Result<T, String> {
    use std::sync::{Arc, Mutex, PoisonError};
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let previous: Arc<dyn Fn(&std::panic::PanicHookInfo<'_>) + Send + Sync> = Arc::from(std::panic::take_hook());
    {
        let (seen, previous) = (seen.clone(), previous.clone());
        std::panic::set_hook(Box::new(move |info| {
            let message = info.payload().downcast_ref::<String>().cloned().or_else(|| info.payload().downcast_ref::<&str>().map(|s| (*s).to_owned()));
            seen.lock().unwrap_or_else(PoisonError::into_inner).push(message.unwrap_or_else(|| "no reason given".to_owned()));
            previous(info);
        }));
    }
    // Nothing `work` touched is used after a panic: the caller gives up on the device.
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work));
    let _ours = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| previous(info)));
    result.map_err(|_| {
        let seen = seen.lock().unwrap_or_else(PoisonError::into_inner);
        seen.iter().find(|message| !message.contains("RecvError")).or(seen.first()).cloned().unwrap_or_else(|| "no reason given".to_owned())
    })
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
