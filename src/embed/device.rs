//! Choosing where the model runs (`--device`) and in which precision
//! (`--dtype`), with clear errors when a build or machine cannot honour the
//! request.

use std::fmt;
use std::str::FromStr;

use candle_core::{DType, Device};

use crate::{Error, Result};

/// Where the user asked the model to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeviceChoice {
    /// CUDA when this build has it and a GPU is present, else the CPU.
    #[default]
    Auto,
    Cpu,
    /// A CUDA device by ordinal (`cuda` means `cuda:0`).
    Cuda(usize),
}

impl FromStr for DeviceChoice {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let s = s.trim().to_ascii_lowercase();
        match s.as_str() {
            "auto" => Ok(DeviceChoice::Auto),
            "cpu" => Ok(DeviceChoice::Cpu),
            "cuda" | "gpu" => Ok(DeviceChoice::Cuda(0)),
            _ => match s.strip_prefix("cuda:") {
                Some(n) => n
                    .parse()
                    .map(DeviceChoice::Cuda)
                    .map_err(|_| bad_device(&s)),
                None => Err(bad_device(&s)),
            },
        }
    }
}

fn bad_device(s: &str) -> Error {
    Error::InvalidArgument {
        name: "device".into(),
        problem: format!("'{s}' is not a device; use auto, cpu, cuda or cuda:N"),
    }
}

impl fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceChoice::Auto => f.write_str("auto"),
            DeviceChoice::Cpu => f.write_str("cpu"),
            DeviceChoice::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}

/// Whether this build of `relate` was compiled with CUDA support.
pub fn cuda_compiled() -> bool {
    cfg!(feature = "cuda")
}

/// Resolves a [`DeviceChoice`] to a candle device.
pub fn select_device(choice: DeviceChoice) -> Result<Device> {
    match choice {
        DeviceChoice::Cpu => Ok(Device::Cpu),
        DeviceChoice::Auto => {
            if cuda_compiled() && candle_core::utils::cuda_is_available() {
                if let Ok(device) = Device::new_cuda(0) {
                    return Ok(device);
                }
            }
            Ok(Device::Cpu)
        }
        DeviceChoice::Cuda(ordinal) => {
            if !cuda_compiled() {
                return Err(Error::Device {
                    requested: choice.to_string(),
                    problem: "this build of relate has no CUDA support; rebuild with \
                              `cargo build --release --features cuda`, or use --device cpu"
                        .into(),
                });
            }
            Device::new_cuda(ordinal).map_err(|e| Error::Device {
                requested: choice.to_string(),
                problem: format!(
                    "cannot open the GPU ({}); check the driver with nvidia-smi, or use --device cpu",
                    e.to_string().lines().next().unwrap_or_default()
                ),
            })
        }
    }
}

/// Floating-point precision of the model's weights and activations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Precision {
    #[default]
    F32,
    F16,
    Bf16,
    /// Linear layers in int8 on the CPU (weights per output channel,
    /// activations per row), everything else in f32.
    Int8,
}

impl Precision {
    pub fn dtype(self) -> DType {
        match self {
            Precision::F32 => DType::F32,
            Precision::F16 => DType::F16,
            Precision::Bf16 => DType::BF16,
            // Loaded in f32, then quantised.
            Precision::Int8 => DType::F32,
        }
    }

    /// Refuses half precision on the CPU, where candle's kernels are slow and
    /// the results drift from the reference, and int8 on a GPU.
    pub fn check_device(self, device: &Device) -> Result<()> {
        let problem = match self {
            Precision::F16 | Precision::Bf16 if device.is_cpu() => {
                "half precision is only offered on CUDA; use --dtype f32 or int8 on the CPU"
            }
            Precision::Int8 if !device.is_cpu() => {
                "int8 is a CPU mode; use --dtype f32, f16 or bf16 on a GPU, or --device cpu"
            }
            _ => return Ok(()),
        };
        Err(Error::Device {
            requested: format!("{} with dtype {self}", describe(device)),
            problem: problem.into(),
        })
    }
}

impl FromStr for Precision {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "f32" | "fp32" | "float32" => Ok(Precision::F32),
            "f16" | "fp16" | "float16" => Ok(Precision::F16),
            "bf16" | "bfloat16" => Ok(Precision::Bf16),
            "int8" | "i8" | "q8" => Ok(Precision::Int8),
            other => Err(Error::InvalidArgument {
                name: "dtype".into(),
                problem: format!("'{other}' is not a precision; use f32, int8, f16 or bf16"),
            }),
        }
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Precision::F32 => "f32",
            Precision::F16 => "f16",
            Precision::Bf16 => "bf16",
            Precision::Int8 => "int8",
        })
    }
}

/// A short human name for a candle device, for logs and summaries.
pub fn describe(device: &Device) -> String {
    match device {
        Device::Cpu => "cpu".into(),
        Device::Cuda(_) => "cuda".into(),
        Device::Metal(_) => "metal".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_device_names() {
        assert_eq!("auto".parse::<DeviceChoice>().unwrap(), DeviceChoice::Auto);
        assert_eq!("CPU".parse::<DeviceChoice>().unwrap(), DeviceChoice::Cpu);
        assert_eq!(
            "cuda".parse::<DeviceChoice>().unwrap(),
            DeviceChoice::Cuda(0)
        );
        assert_eq!(
            "cuda:3".parse::<DeviceChoice>().unwrap(),
            DeviceChoice::Cuda(3)
        );
        assert!("cuda:x".parse::<DeviceChoice>().is_err());
        assert!("tpu".parse::<DeviceChoice>().is_err());
    }

    #[test]
    fn cpu_refuses_half_precision() {
        assert!(Precision::F16.check_device(&Device::Cpu).is_err());
        assert!(Precision::F32.check_device(&Device::Cpu).is_ok());
        assert!(Precision::Int8.check_device(&Device::Cpu).is_ok());
        assert_eq!("INT8".parse::<Precision>().unwrap(), Precision::Int8);
    }

    #[cfg(not(feature = "cuda"))]
    #[test]
    fn cuda_request_in_cpu_build_is_a_clear_error() {
        let err = select_device(DeviceChoice::Cuda(0))
            .unwrap_err()
            .to_string();
        assert!(err.contains("--features cuda"), "{err}");
    }
}
