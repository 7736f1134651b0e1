// Package space is the vocabulary of architectures: the Arch intermediate representation, its
// block families, analytic parameter and MAC counts, validation, canonical hashing, the search
// space definition and the genome encoding.
//
// # The Arch and its YAML
//
// An Arch is an input shape, a number of classes, a stem of plain layers, stages of blocks and a
// head. In YAML (see configs/baselines for complete examples):
//
//	name: resnet20_mnist              # optional; not part of the hash
//	input: [1, 28, 28]                # C, H, W of one sample
//	classes: 10
//	stem:                             # layers before the first stage (optional)
//	  - {op: conv, filters: 16, kernel: 3, padding: 1, bn: true, relu: true}
//	stages:
//	  - {family: basic, blocks: 3, width: 16}
//	  - {family: basic, blocks: 3, width: 32, stride: 2, se: {ratio: 4}}
//	  - {family: basic, blocks: 3, width: 64, stride: 2}
//	head:                             # optional; default: globalavgpool, linear
//	  - {op: globalavgpool}
//	  - {op: linear}                  # the last linear layer has `classes` outputs
//	ror: false                        # shortcuts around each stage and the whole body
//	stochastic_depth: {final_survival: 0.5}   # or drop_path: p on residual stages
//
// Stem, head and aux_head entries have an op and its options, with PyTorch's defaults:
//
//	conv           filters, kernel, stride (1), padding (0), groups (1), bias (false),
//	               bn (follow with batchnorm), relu (follow with ReLU)
//	maxpool        kernel, stride (= kernel), padding (0), ceil (false)
//	avgpool        as maxpool, plus exclude_pad (false: padding counts in the divisor)
//	linear         out (unset on a head's last linear layer), bias (true), relu
//	dropout        p
//	batchnorm, relu, globalavgpool, flatten
//
// A stage is `blocks` copies of one block (the first with the stage's stride, the others with
// stride 1), or the blocks one by one in `blocks_list`, each listed block taking every option it
// leaves unset from the stage. A stage may end with `pool: {type: max|avg, kernel, stride,
// padding, ceil}` and may carry an auxiliary classifier, `aux_head: [...]`, on its output, whose
// parameters count but whose MACs do not (inference does not run it).
//
// # Block families
//
// Every family accepts `se: {ratio: r}` (default 16), a squeeze-and-excitation module on the
// residual branch before the addition, or on the block's output where there is no residual
// branch. Residual families accept `drop_path: p`. "cbr" below is conv (no bias), batchnorm,
// ReLU; "same" padding is k/2.
//
//	plain              conv k×k (kernel, default 3; same padding; stride) [batchnorm] ReLU.
//	                   width; norm: batchnorm|none; bias. VGG and AlexNet stacks.
//	mlpconv            a plain unit, then a 1×1 plain unit per entry of mlp: [w, ...]. NIN.
//	basic              cbr 3×3 (stride), conv 3×3, batchnorm; + shortcut; ReLU. width;
//	                   shortcut: A (subsample and zero-pad) or B (default: 1×1 conv and
//	                   batchnorm), used only where the shape changes.
//	bottleneck         cbr 1×1 to mid_width (default width/4), cbr 3×3 with groups, conv 1×1 to
//	                   width, batchnorm; + shortcut; ReLU. stride_on: 3x3 (default,
//	                   torchvision) or 1x1 (the paper). mid_width, groups, shortcut.
//	resnext            bottleneck with cardinality C and group_width d: groups C, mid_width C·d.
//	preact_basic       BN-ReLU, conv 3×3 (stride), BN-ReLU, [dropout], conv 3×3; + shortcut
//	                   (from the pre-activated input where the shape changes, a 1×1 conv with
//	                   no batchnorm). dropout, shortcut.
//	wide               preact_basic with widen_factor k: width·k channels. dropout.
//	preact_bottleneck  BN-ReLU, conv 1×1, BN-ReLU, conv 3×3, BN-ReLU, conv 1×1; + shortcut.
//	dense              DenseNet: `blocks` dense layers, each on the concatenation of all earlier
//	                   maps of the stage, adding growth_rate maps: BN-ReLU-conv 1×1 to
//	                   bn_size·k (when bn_size > 0, DenseNet-B), BN-ReLU-conv 3×3, [dropout].
//	                   The stage outputs the concatenation of all.
//	transition         BN-ReLU, conv 1×1 to ⌊compression·C⌋ (default 1), avgpool 2×2.
//	inception          GoogLeNet module: cbr 1×1 n1x1 | cbr 1×1, 3×3 n3x3: [reduce, out] |
//	                   cbr 1×1, k×k n5x5: [reduce, out] (k = n5x5_kernel, default 5) |
//	                   maxpool 3×3 stride 1, cbr 1×1 pool_proj; concatenated.
//	inception_v3_a     n1x1 | n5x5: [reduce, 5×5] | n3x3dbl: [reduce, 3×3, 3×3] | avgpool 3×3,
//	                   pool_proj (pool_exclude_pad). torchvision's InceptionA.
//	reduction_a        3×3 stride 2 n3x3: [n] | n3x3dbl: [k, l, m] (1×1, 3×3, 3×3 stride 2) |
//	                   maxpool 3×3 stride 2. padding: valid (default) or same for the stride-2
//	                   convs and pool. torchvision's InceptionB; Reduction-A of Szegedy 2017.
//	inception_v3_c     n1x1 | n7x7: [reduce, 1×7, 7×1] | n7x7dbl: [reduce, 7×1, 1×7, 7×1, 1×7]
//	                   | avgpool, pool_proj. torchvision's InceptionC.
//	inception_v3_d     n3x3: [reduce, 3×3 stride 2] | n7x7x3: [reduce, 1×7, 7×1, 3×3 stride 2]
//	                   | maxpool 3×3 stride 2. padding. torchvision's InceptionD.
//	inception_v3_e     n1x1 | n3x3: [reduce, w] then 1×3 and 3×1 of w | n3x3dbl: [reduce, 3×3,
//	                   w] then 1×3 and 3×1 of w | avgpool, pool_proj. torchvision's InceptionE.
//	incres_a           Inception-ResNet-A: n1x1 | n3x3: [reduce, 3×3] | n3x3dbl: [reduce, 3×3,
//	                   3×3], concatenated, a 1×1 conv with bias back to the input width;
//	                   out = x + scale·branch, then ReLU unless no_relu.
//	incres_b           as incres_a with n1x1 | n7x7: [reduce, 1×7, 7×1].
//	incres_c           as incres_a with n1x1 | n3x3: [reduce, 1×3, 3×1].
//	reduction_b        Inception-ResNet-v2's Reduction-B: n3x3: [reduce, 3×3 s2] | n3x3b:
//	                   [reduce, 3×3 s2] | n3x3dbl: [reduce, 3×3, 3×3 s2] | maxpool. padding.
//	genetic_stage      a Genetic CNN stage (Xie and Yuille 2017) of width w and code, e.g.
//	                   "1-01-001": an input 3×3 conv unit, K nodes of 3×3 conv units on the
//	                   sum of their inputs wired by the code's bits, isolated nodes dropped, and
//	                   an output 3×3 conv unit on the sum of the nodes without successor.
//
// With ror: true (Zhang et al. 2017) the last residual block of each stage also adds the stage's
// input, and the last residual block of the network adds the stem's output, each projected by
// the block's shortcut kind where the shape changes, before the block's final ReLU. With
// stochastic_depth the l-th of the L residual blocks drops its branch with probability
// l/L·(1 − final_survival) (Huang et al. 2016).
//
// # Expansion and counts
//
// Expand turns an Arch into a Net: primitive layers (Op) in topological order, each mapping onto
// one engine op, with output shapes, parameters and MACs. Counts are sums over these layers, so
// what is counted is what is trained: parameters are conv and linear weights and biases and
// batchnorm gamma and beta (not running statistics); MACs are conv and linear
// multiply-accumulates of one sample's forward pass to the main classifier, the convention of
// torchvision's documented GFLOPS and of the papers' "FLOPs (multiply-adds)".
//
// # Canonical form and hash
//
// Canonical writes out every default, resolves the aliases (resnext, wide), turns bn and relu
// flags into layers, and puts each stage in count form when its blocks are equal and in list form
// otherwise; Hash is the SHA-256 of the canonical form's JSON without the name, so that two
// spellings of one network hash the same.
package space
