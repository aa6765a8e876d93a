//! [`BlockKernels`] under burn's autodiff: the whole block is one node of the graph, and its
//! backward pass is the inner backend's [`BlockBackward`].

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::{Autodiff, NodeId};
use burn::backend::tensor::FloatTensor;
use burn::backend::AutodiffBackend;

use super::{BlockBackward, BlockKernels, Sampling};

/// The autodiff node of one block.
#[derive(Debug)]
struct ConvBnEluBackward;

/// What the node keeps: checkpoints of the input and the weight, then γ, x̂, the output and the
/// batch variance as the forward pass computed them.
type State<B> = (NodeId, NodeId, FloatTensor<B>, FloatTensor<B>, FloatTensor<B>, FloatTensor<B>, Sampling, f64);

impl<B: BlockKernels + BlockBackward> Backward<B, 5> for ConvBnEluBackward {
    type State = State<B>;

    fn backward(self, ops: Ops<Self::State, 5>, grads: &mut Gradients, checkpointer: &mut Checkpointer) {
        let [node_input, node_weight, node_bias, node_gamma, node_beta] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let (input_state, weight_state, gamma, normalized, output, variance, sampling, epsilon) = ops.state;
        let input = checkpointer.retrieve_node_output::<FloatTensor<B>>(input_state);
        let weight = checkpointer.retrieve_node_output::<FloatTensor<B>>(weight_state);
        let (d_input, d_weight, d_gamma, d_beta) = B::conv_bn_elu_train_backward(
            input,
            weight,
            gamma,
            normalized,
            output,
            variance,
            grad,
            sampling,
            epsilon,
            node_input.is_some(),
            node_weight.is_some(),
        );
        if let Some(node) = node_input {
            grads.register::<B>(node.id, d_input);
        }
        if let Some(node) = node_weight {
            grads.register::<B>(node.id, d_weight);
        }
        if let Some(node) = node_bias {
            // BatchNorm's batch mean cancels the bias: its gradient is exactly zero.
            grads.register::<B>(node.id, B::float_mul_scalar(d_beta.clone(), 0.0.into()));
        }
        if let Some(node) = node_gamma {
            grads.register::<B>(node.id, d_gamma);
        }
        if let Some(node) = node_beta {
            grads.register::<B>(node.id, d_beta);
        }
    }
}

impl<B: BlockKernels + BlockBackward, C: CheckpointStrategy> BlockKernels for Autodiff<B, C> {
    fn conv_bn_elu_train(
        input: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        sampling: Sampling,
        epsilon: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let constant = <Self as AutodiffBackend>::from_inner;
        let prepared = ConvBnEluBackward
            .prepare::<C>([input.node(), weight.node(), bias.node(), gamma.node(), beta.node()])
            .compute_bound()
            .stateful();
        match prepared {
            OpsKind::Tracked(mut prep) => {
                let input_state = prep.checkpoint(&input);
                let weight_state = prep.checkpoint(&weight);
                let gamma = gamma.into_primitive();
                let (output, normalized, mean, variance) =
                    B::conv_bn_elu_train(input.into_primitive(), weight.into_primitive(), bias.into_primitive(), gamma.clone(), beta.into_primitive(), sampling, epsilon);
                let state = (input_state, weight_state, gamma, normalized.clone(), output.clone(), variance.clone(), sampling, epsilon);
                (prep.finish(state, output), constant(normalized), constant(mean), constant(variance))
            }
            OpsKind::UnTracked(prep) => {
                let (output, normalized, mean, variance) =
                    B::conv_bn_elu_train(input.into_primitive(), weight.into_primitive(), bias.into_primitive(), gamma.into_primitive(), beta.into_primitive(), sampling, epsilon);
                (prep.finish(output), constant(normalized), constant(mean), constant(variance))
            }
        }
    }

    fn conv_bn_elu_infer(
        input: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        mean: FloatTensor<Self>,
        variance: FloatTensor<Self>,
        sampling: Sampling,
        epsilon: f64,
    ) -> FloatTensor<Self> {
        // Inference: computed by the inner backend, recorded nowhere.
        let inner = <Self as AutodiffBackend>::inner;
        <Self as AutodiffBackend>::from_inner(B::conv_bn_elu_infer(
            inner(input),
            inner(weight),
            inner(bias),
            inner(gamma),
            inner(beta),
            inner(mean),
            inner(variance),
            sampling,
            epsilon,
        ))
    }

    fn conv_infer(input: FloatTensor<Self>, weight: FloatTensor<Self>, bias: FloatTensor<Self>, sampling: Sampling) -> FloatTensor<Self> {
        // Inference: computed by the inner backend, recorded nowhere.
        let inner = <Self as AutodiffBackend>::inner;
        <Self as AutodiffBackend>::from_inner(B::conv_infer(inner(input), inner(weight), inner(bias), sampling))
    }
}
