//! Starting one model from another's weights wherever their shapes agree: a multi-image DR-GAN
//! from a single-image run (`train --init-from`), whose only new weights are the confidence head
//! (and D's identity head when the identity count differs).

use std::collections::HashMap;

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::prelude::*;

/// Every float tensor of a module (BatchNorm statistics included), by its path.
struct Collect {
    path: Vec<String>,
    found: HashMap<String, TensorData>,
}

impl ModuleVisitor for Collect {
    fn enter_module(&mut self, name: &str, _: &str) {
        self.path.push(name.to_owned());
    }

    fn exit_module(&mut self, _: &str, _: &str) {
        self.path.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.found.insert(self.path.join("."), param.val().into_data());
    }
}

/// Replaces each float tensor that has a same-shaped counterpart at the same path.
struct Replace<'a> {
    path: Vec<String>,
    source: &'a HashMap<String, TensorData>,
    loaded: usize,
    total: usize,
}

impl ModuleMapper for Replace<'_> {
    fn enter_module(&mut self, name: &str, _: &str) {
        self.path.push(name.to_owned());
    }

    fn exit_module(&mut self, _: &str, _: &str) {
        self.path.pop();
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        self.total += 1;
        let Some(data) = self.source.get(&self.path.join(".")) else {
            return param;
        };
        if data.shape().to_vec() != param.val().dims().to_vec() {
            return param;
        }
        self.loaded += 1;
        param.map(|tensor| {
            let loaded = Tensor::from_data(data.clone(), &tensor.device());
            if tensor.is_require_grad() { loaded.require_grad() } else { loaded }
        })
    }
}

/// `target` with every tensor replaced by `source`'s at the same path and of the same shape;
/// also how many tensors were replaced, out of how many.
pub fn load_matching<M: Module>(target: M, source: &impl Module) -> (M, usize, usize) {
    let mut collect = Collect { path: Vec::new(), found: HashMap::new() };
    source.visit(&mut collect);
    let mut replace = Replace { path: Vec::new(), source: &collect.found, loaded: 0, total: 0 };
    let target = target.map(&mut replace);
    (target, replace.loaded, replace.total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Generator, ModelConfig, Preset};

    #[test]
    fn a_single_image_generator_starts_a_multi_image_one_but_for_its_confidence_head() {
        let device = Device::flex();
        let single = ModelConfig::new(Preset::Tiny, 5);
        let multi = ModelConfig { confidence: true, ..single.clone() };
        let source = Generator::new(&single, &device);
        let (target, loaded, total) = load_matching(Generator::new(&multi, &device), &source);
        // The head's weight and bias are the only new tensors.
        assert_eq!(total - loaded, 2, "loaded {loaded} of {total}");
        let (a, b) = (source.encoder.forward(Tensor::ones([1, 3, 32, 32], &device)), target.encoder.forward(Tensor::ones([1, 3, 32, 32], &device)));
        let same = a.into_data().try_to_vec::<f32>().unwrap() == b.into_data().try_to_vec::<f32>().unwrap();
        assert!(same, "the encoder's weights were not carried over");
    }
}
