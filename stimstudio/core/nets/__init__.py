"""Networks: StyleGAN2 generator and discriminator, the paper's encoder, the noise encoder,
perceptual features."""

from .discriminator import Discriminator, DiscriminatorConfig
from .encoder import Encoder, EncoderConfig
from .generator import Generator, GeneratorConfig
from .noise_encoder import NoiseEncoder, NoiseEncoderConfig
from .perceptual import PerceptualFeatures, discriminator_features, load_vgg16

__all__ = [
    "Discriminator",
    "DiscriminatorConfig",
    "Encoder",
    "EncoderConfig",
    "Generator",
    "GeneratorConfig",
    "NoiseEncoder",
    "NoiseEncoderConfig",
    "PerceptualFeatures",
    "discriminator_features",
    "load_vgg16",
]
