//! Refusing weights that are not numbers: a checkpoint saved after a run diverged, or damaged
//! in a way its checksum cannot show (one written before checksums existed).

use burn::module::{Module, ModuleVisitor, Param};
use burn::prelude::*;

/// Names every parameter (BatchNorm statistics included) that holds a NaN or an infinity.
struct NonFinite {
    path: Vec<String>,
    found: Vec<String>,
}

impl ModuleVisitor for NonFinite {
    fn enter_module(&mut self, name: &str, _: &str) {
        self.path.push(name.to_owned());
    }

    fn exit_module(&mut self, _: &str, _: &str) {
        self.path.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let value = param.val();
        let bad = value.clone().is_nan().any().into_scalar() || value.is_inf().any().into_scalar();
        if bad {
            self.found.push(self.path.join("."));
        }
    }
}

/// `Err` naming the parameters of `module` that are not finite.
pub fn check_finite(module: &impl Module, what: &str) -> anyhow::Result<()> {
    let mut visitor = NonFinite { path: Vec::new(), found: Vec::new() };
    module.visit(&mut visitor);
    match visitor.found.as_slice() {
        [] => Ok(()),
        found => {
            let shown: Vec<&str> = found.iter().take(3).map(String::as_str).collect();
            let more = if found.len() > 3 { format!(" and {} more", found.len() - 3) } else { String::new() };
            anyhow::bail!("the {what} holds weights that are not numbers (NaN or infinite) in {}{more}", shown.join(", "))
        }
    }
}
