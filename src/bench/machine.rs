//! The machine a run was measured on: CPU model, cores, kernel.

use serde::Serialize;

/// What the figures of a run belong to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Machine {
    /// The CPU model, from `/proc/cpuinfo` (or "unknown").
    pub cpu: String,
    /// Cores this process may run on.
    pub cores: usize,
    /// The operating system and kernel release.
    pub kernel: String,
}

impl Machine {
    /// Reads the machine's description; unknown parts say "unknown".
    pub fn detect() -> Self {
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|info| model_name(&info))
            .unwrap_or_else(|| "unknown".to_owned());
        let release = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|r| r.trim().to_owned())
            .unwrap_or_else(|_| "unknown".to_owned());
        let cores = core_affinity::get_core_ids().map_or(0, |c| c.len());
        Self {
            cpu,
            cores,
            kernel: format!("{} {release}", std::env::consts::OS),
        }
    }
}

/// The first `model name` line of `/proc/cpuinfo`.
fn model_name(cpuinfo: &str) -> Option<String> {
    cpuinfo
        .lines()
        .find(|line| line.starts_with("model name"))
        .and_then(|line| line.split_once(':'))
        .map(|(_, model)| model.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::model_name;

    #[test]
    fn reads_the_first_model_name() {
        let info = "processor\t: 0\nmodel name\t: Some CPU @ 2.0GHz\nmodel name\t: other\n";
        assert_eq!(model_name(info).as_deref(), Some("Some CPU @ 2.0GHz"));
        assert_eq!(model_name("processor: 0\n"), None);
    }
}
