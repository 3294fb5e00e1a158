#!/usr/bin/python3
"""PyTorch references for the Swin and distilled-DeiT converters, and the test fixtures they produce.

Neither transformers nor timm can be installed on the build machines, so this script re-states their forward
passes module by module, with their parameter names, following the public sources line by line:

  - transformers  src/transformers/models/swin/modeling_swin.py   (SwinModel, SwinForImageClassification)
  - transformers  src/transformers/models/deit/modeling_deit.py   (DeiTModel, DeiTForImageClassificationWithTeacher)
  - transformers  image_processing_vit.py / image_processing_deit.py, PIL ("slow") path
  - timm          timm/models/swin_transformer.py                (SwinTransformer, timm >= 0.9 layout)
  - timm          timm/models/deit.py, vision_transformer.py      (VisionTransformerDistilled)
  - timm          timm/data/transforms_factory.py                 (eval transform, via torchvision itself)

It builds one tiny random checkpoint per layout with every parameter perturbed (so a swapped or transposed tensor
changes the outputs), writes it the way save_pretrained / timm's push_to_hub do (model.safetensors + config.json,
and preprocessor_config.json for transformers), preprocesses the four shared fixture images as each library does,
and stores the pixel values and the model outputs as raw little-endian float32.

Run from the repository root with Debian's torch (no network, no transformers/timm needed):

    /usr/bin/python3 export/src/test/python/swin_deit_reference.py

Output: export/src/test/resources/reference/{hf_swin,timm_swin,hf_deit,timm_deit}/ and manifest.json.
"""

import json
import math
import os
import struct
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image
from torchvision import transforms

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
SHARED = os.environ.get("VITFIT_SHARED", os.path.join(os.path.dirname(ROOT), "shared"))
IMAGES = ["img0.png", "img1.png", "img2.png", "img3.jpg"]
IMAGE_DIR = os.path.join(SHARED, "fixtures", "hf-golden", "images")
OUT = os.path.join(ROOT, "export", "src", "test", "resources", "reference")

IMAGENET_DEFAULT_MEAN = [0.485, 0.456, 0.406]
IMAGENET_DEFAULT_STD = [0.229, 0.224, 0.225]
NUM_CLASSES = 10
LABELS = ["class_%d" % i for i in range(NUM_CLASSES)]

# Tiny architectures. Swin: three stages so that the first two use shifted windows with the attention mask
# (28x28 and 14x14 tokens, window 7) and the last one is a single window where both libraries turn the shift
# off (7x7); mlp_ratio 2 so the MLP width must come from the config/tensors, not an assumed 4.
SWIN = dict(image=112, patch=4, embed=16, depths=[2, 2, 2], heads=[2, 4, 8], window=7, mlp_ratio=2.0)
DEIT = dict(image=112, patch=16, hidden=32, layers=2, heads=4, intermediate=64)


# ----------------------------------------------------------------------------------------------------------------
# transformers: Swin (modeling_swin.py)
# ----------------------------------------------------------------------------------------------------------------

def hf_window_partition(input_feature, window_size):
    batch_size, height, width, num_channels = input_feature.shape
    input_feature = input_feature.view(
        batch_size, height // window_size, window_size, width // window_size, window_size, num_channels)
    return input_feature.permute(0, 1, 3, 2, 4, 5).contiguous().view(-1, window_size, window_size, num_channels)


def hf_window_reverse(windows, window_size, height, width):
    num_channels = windows.shape[-1]
    windows = windows.view(-1, height // window_size, width // window_size, window_size, window_size, num_channels)
    return windows.permute(0, 1, 3, 2, 4, 5).contiguous().view(-1, height, width, num_channels)


class SwinPatchEmbeddings(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.patch_size = (c["patch"], c["patch"])
        self.projection = nn.Conv2d(3, c["embed"], kernel_size=self.patch_size, stride=self.patch_size)

    def forward(self, pixel_values):
        _, _, height, width = pixel_values.shape
        assert width % self.patch_size[1] == 0 and height % self.patch_size[0] == 0  # maybe_pad is a no-op here
        embeddings = self.projection(pixel_values)
        _, _, height, width = embeddings.shape
        return embeddings.flatten(2).transpose(1, 2), (height, width)


class SwinEmbeddings(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.patch_embeddings = SwinPatchEmbeddings(c)
        self.norm = nn.LayerNorm(c["embed"])  # default eps 1e-5, not config.layer_norm_eps

    def forward(self, pixel_values):
        embeddings, output_dimensions = self.patch_embeddings(pixel_values)
        return self.norm(embeddings), output_dimensions  # use_absolute_embeddings=False


class SwinSelfAttention(nn.Module):
    def __init__(self, dim, num_heads, window_size):
        super().__init__()
        self.num_attention_heads = num_heads
        self.attention_head_size = int(dim / num_heads)
        self.all_head_size = self.num_attention_heads * self.attention_head_size
        self.window_size = (window_size, window_size)
        self.relative_position_bias_table = nn.Parameter(
            torch.zeros((2 * self.window_size[0] - 1) * (2 * self.window_size[1] - 1), num_heads))
        coords_h = torch.arange(self.window_size[0])
        coords_w = torch.arange(self.window_size[1])
        coords = torch.stack(torch.meshgrid([coords_h, coords_w], indexing="ij"))
        coords_flatten = torch.flatten(coords, 1)
        relative_coords = coords_flatten[:, :, None] - coords_flatten[:, None, :]
        relative_coords = relative_coords.permute(1, 2, 0).contiguous()
        relative_coords[:, :, 0] += self.window_size[0] - 1
        relative_coords[:, :, 1] += self.window_size[1] - 1
        relative_coords[:, :, 0] *= 2 * self.window_size[1] - 1
        self.register_buffer("relative_position_index", relative_coords.sum(-1))  # persistent, as in 4.x
        self.query = nn.Linear(self.all_head_size, self.all_head_size, bias=True)
        self.key = nn.Linear(self.all_head_size, self.all_head_size, bias=True)
        self.value = nn.Linear(self.all_head_size, self.all_head_size, bias=True)

    def transpose_for_scores(self, x):
        x = x.view(x.size()[:-1] + (self.num_attention_heads, self.attention_head_size))
        return x.permute(0, 2, 1, 3)

    def forward(self, hidden_states, attention_mask=None):
        batch_size, dim, num_channels = hidden_states.shape
        mixed_query_layer = self.query(hidden_states)
        key_layer = self.transpose_for_scores(self.key(hidden_states))
        value_layer = self.transpose_for_scores(self.value(hidden_states))
        query_layer = self.transpose_for_scores(mixed_query_layer)
        attention_scores = torch.matmul(query_layer, key_layer.transpose(-1, -2))
        attention_scores = attention_scores / math.sqrt(self.attention_head_size)
        relative_position_bias = self.relative_position_bias_table[self.relative_position_index.view(-1)]
        relative_position_bias = relative_position_bias.view(
            self.window_size[0] * self.window_size[1], self.window_size[0] * self.window_size[1], -1)
        relative_position_bias = relative_position_bias.permute(2, 0, 1).contiguous()
        attention_scores = attention_scores + relative_position_bias.unsqueeze(0)
        if attention_mask is not None:
            mask_shape = attention_mask.shape[0]
            attention_scores = attention_scores.view(
                batch_size // mask_shape, mask_shape, self.num_attention_heads, dim, dim)
            attention_scores = attention_scores + attention_mask.unsqueeze(1).unsqueeze(0)
            attention_scores = attention_scores.view(-1, self.num_attention_heads, dim, dim)
        attention_probs = nn.functional.softmax(attention_scores, dim=-1)
        context_layer = torch.matmul(attention_probs, value_layer)
        context_layer = context_layer.permute(0, 2, 1, 3).contiguous()
        return context_layer.view(context_layer.size()[:-2] + (self.all_head_size,))


class SwinSelfOutput(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.dense = nn.Linear(dim, dim)

    def forward(self, hidden_states):
        return self.dense(hidden_states)


class SwinAttention(nn.Module):
    def __init__(self, dim, num_heads, window_size):
        super().__init__()
        self.self = SwinSelfAttention(dim, num_heads, window_size)
        self.output = SwinSelfOutput(dim)

    def forward(self, hidden_states, attention_mask=None):
        return self.output(self.self(hidden_states, attention_mask))


class SwinIntermediate(nn.Module):
    def __init__(self, dim, mlp_ratio):
        super().__init__()
        self.dense = nn.Linear(dim, int(mlp_ratio * dim))

    def forward(self, hidden_states):
        return F.gelu(self.dense(hidden_states))  # ACT2FN["gelu"]: exact erf GELU


class SwinOutput(nn.Module):
    def __init__(self, dim, mlp_ratio):
        super().__init__()
        self.dense = nn.Linear(int(mlp_ratio * dim), dim)

    def forward(self, hidden_states):
        return self.dense(hidden_states)


class SwinLayer(nn.Module):
    def __init__(self, c, dim, num_heads, shift_size):
        super().__init__()
        self.shift_size = shift_size
        self.window_size = c["window"]
        self.layernorm_before = nn.LayerNorm(dim, eps=c["layer_norm_eps"])
        self.attention = SwinAttention(dim, num_heads, window_size=self.window_size)
        self.layernorm_after = nn.LayerNorm(dim, eps=c["layer_norm_eps"])
        self.intermediate = SwinIntermediate(dim, c["mlp_ratio"])
        self.output = SwinOutput(dim, c["mlp_ratio"])

    def set_shift_and_window_size(self, input_resolution):
        if min(input_resolution) <= self.window_size:
            self.shift_size = 0
            self.window_size = min(input_resolution)

    def get_attn_mask(self, height, width, dtype):
        if self.shift_size > 0:
            img_mask = torch.zeros((1, height, width, 1), dtype=dtype)
            height_slices = (slice(0, -self.window_size), slice(-self.window_size, -self.shift_size),
                             slice(-self.shift_size, None))
            width_slices = (slice(0, -self.window_size), slice(-self.window_size, -self.shift_size),
                            slice(-self.shift_size, None))
            count = 0
            for height_slice in height_slices:
                for width_slice in width_slices:
                    img_mask[:, height_slice, width_slice, :] = count
                    count += 1
            mask_windows = hf_window_partition(img_mask, self.window_size)
            mask_windows = mask_windows.view(-1, self.window_size * self.window_size)
            attn_mask = mask_windows.unsqueeze(1) - mask_windows.unsqueeze(2)
            attn_mask = attn_mask.masked_fill(attn_mask != 0, float(-100.0)).masked_fill(attn_mask == 0, float(0.0))
        else:
            attn_mask = None
        return attn_mask

    def maybe_pad(self, hidden_states, height, width):
        pad_right = (self.window_size - width % self.window_size) % self.window_size
        pad_bottom = (self.window_size - height % self.window_size) % self.window_size
        pad_values = (0, 0, 0, pad_right, 0, pad_bottom)
        return nn.functional.pad(hidden_states, pad_values), pad_values

    def forward(self, hidden_states, input_dimensions):
        self.set_shift_and_window_size(input_dimensions)
        height, width = input_dimensions
        batch_size, _, channels = hidden_states.size()
        shortcut = hidden_states
        hidden_states = self.layernorm_before(hidden_states)
        hidden_states = hidden_states.view(batch_size, height, width, channels)
        hidden_states, pad_values = self.maybe_pad(hidden_states, height, width)
        _, height_pad, width_pad, _ = hidden_states.shape
        if self.shift_size > 0:
            shifted_hidden_states = torch.roll(hidden_states, shifts=(-self.shift_size, -self.shift_size), dims=(1, 2))
        else:
            shifted_hidden_states = hidden_states
        hidden_states_windows = hf_window_partition(shifted_hidden_states, self.window_size)
        hidden_states_windows = hidden_states_windows.view(-1, self.window_size * self.window_size, channels)
        attn_mask = self.get_attn_mask(height_pad, width_pad, dtype=hidden_states.dtype)
        attention_output = self.attention(hidden_states_windows, attn_mask)
        attention_windows = attention_output.view(-1, self.window_size, self.window_size, channels)
        shifted_windows = hf_window_reverse(attention_windows, self.window_size, height_pad, width_pad)
        if self.shift_size > 0:
            attention_windows = torch.roll(shifted_windows, shifts=(self.shift_size, self.shift_size), dims=(1, 2))
        else:
            attention_windows = shifted_windows
        if pad_values[3] > 0 or pad_values[5] > 0:
            attention_windows = attention_windows[:, :height, :width, :].contiguous()
        attention_windows = attention_windows.view(batch_size, height * width, channels)
        hidden_states = shortcut + attention_windows
        layer_output = self.layernorm_after(hidden_states)
        layer_output = self.intermediate(layer_output)
        return hidden_states + self.output(layer_output)


class SwinPatchMerging(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)
        self.norm = nn.LayerNorm(4 * dim)  # default eps 1e-5

    def forward(self, input_feature, input_dimensions):
        height, width = input_dimensions
        batch_size, dim, num_channels = input_feature.shape
        input_feature = input_feature.view(batch_size, height, width, num_channels)
        assert height % 2 == 0 and width % 2 == 0  # maybe_pad is a no-op here
        input_feature_0 = input_feature[:, 0::2, 0::2, :]
        input_feature_1 = input_feature[:, 1::2, 0::2, :]
        input_feature_2 = input_feature[:, 0::2, 1::2, :]
        input_feature_3 = input_feature[:, 1::2, 1::2, :]
        input_feature = torch.cat([input_feature_0, input_feature_1, input_feature_2, input_feature_3], -1)
        input_feature = input_feature.view(batch_size, -1, 4 * num_channels)
        return self.reduction(self.norm(input_feature))


class SwinStage(nn.Module):
    def __init__(self, c, dim, depth, num_heads, downsample):
        super().__init__()
        self.blocks = nn.ModuleList([
            SwinLayer(c, dim, num_heads, shift_size=0 if (i % 2 == 0) else c["window"] // 2) for i in range(depth)])
        self.downsample = SwinPatchMerging(dim) if downsample else None

    def forward(self, hidden_states, input_dimensions):
        height, width = input_dimensions
        for layer_module in self.blocks:
            hidden_states = layer_module(hidden_states, input_dimensions)
        if self.downsample is not None:
            output_dimensions = ((height + 1) // 2, (width + 1) // 2)
            hidden_states = self.downsample(hidden_states, input_dimensions)
        else:
            output_dimensions = (height, width)
        return hidden_states, output_dimensions


class SwinEncoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        n = len(c["depths"])
        self.layers = nn.ModuleList([
            SwinStage(c, int(c["embed"] * 2 ** i), c["depths"][i], c["heads"][i], downsample=i < n - 1)
            for i in range(n)])

    def forward(self, hidden_states, input_dimensions):
        for layer_module in self.layers:
            hidden_states, input_dimensions = layer_module(hidden_states, input_dimensions)
        return hidden_states


class SwinModel(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.num_features = int(c["embed"] * 2 ** (len(c["depths"]) - 1))
        self.embeddings = SwinEmbeddings(c)
        self.encoder = SwinEncoder(c)
        self.layernorm = nn.LayerNorm(self.num_features, eps=c["layer_norm_eps"])
        self.pooler = nn.AdaptiveAvgPool1d(1)

    def forward(self, pixel_values):
        embedding_output, input_dimensions = self.embeddings(pixel_values)
        sequence_output = self.layernorm(self.encoder(embedding_output, input_dimensions))
        pooled_output = torch.flatten(self.pooler(sequence_output.transpose(1, 2)), 1)
        return sequence_output, pooled_output


class SwinForImageClassification(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.swin = SwinModel(c)
        self.classifier = nn.Linear(self.swin.num_features, NUM_CLASSES)

    def forward(self, pixel_values):
        sequence_output, pooled_output = self.swin(pixel_values)
        return sequence_output, pooled_output, self.classifier(pooled_output)


# ----------------------------------------------------------------------------------------------------------------
# timm: Swin (swin_transformer.py, NHWC stages with the patch merging at the start of stages 1..n-1)
# ----------------------------------------------------------------------------------------------------------------

def timm_window_partition(x, window_size):
    B, H, W, C = x.shape
    x = x.view(B, H // window_size[0], window_size[0], W // window_size[1], window_size[1], C)
    return x.permute(0, 1, 3, 2, 4, 5).contiguous().view(-1, window_size[0], window_size[1], C)


def timm_window_reverse(windows, window_size, H, W):
    C = windows.shape[-1]
    x = windows.view(-1, H // window_size[0], W // window_size[1], window_size[0], window_size[1], C)
    return x.permute(0, 1, 3, 2, 4, 5).contiguous().view(-1, H, W, C)


def get_relative_position_index(win_h, win_w):
    coords = torch.stack(torch.meshgrid(torch.arange(win_h), torch.arange(win_w), indexing="ij"))  # timm ndgrid
    coords_flatten = torch.flatten(coords, 1)
    relative_coords = coords_flatten[:, :, None] - coords_flatten[:, None, :]
    relative_coords = relative_coords.permute(1, 2, 0).contiguous()
    relative_coords[:, :, 0] += win_h - 1
    relative_coords[:, :, 1] += win_w - 1
    relative_coords[:, :, 0] *= 2 * win_w - 1
    return relative_coords.sum(-1)


class WindowAttention(nn.Module):
    def __init__(self, dim, num_heads, window_size):
        super().__init__()
        self.window_size = window_size
        win_h, win_w = self.window_size
        self.window_area = win_h * win_w
        self.num_heads = num_heads
        head_dim = dim // num_heads
        self.scale = head_dim ** -0.5
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * win_h - 1) * (2 * win_w - 1), num_heads))
        self.register_buffer("relative_position_index", get_relative_position_index(win_h, win_w), persistent=False)
        self.qkv = nn.Linear(dim, head_dim * num_heads * 3, bias=True)
        self.proj = nn.Linear(head_dim * num_heads, dim)

    def _get_rel_pos_bias(self):
        relative_position_bias = self.relative_position_bias_table[
            self.relative_position_index.view(-1)].view(self.window_area, self.window_area, -1)
        return relative_position_bias.permute(2, 0, 1).contiguous().unsqueeze(0)

    def forward(self, x, mask=None):
        B_, N, C = x.shape
        qkv = self.qkv(x).reshape(B_, N, 3, self.num_heads, -1).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        # timm's non-fused path (use_fused_attn(experimental=True) is off by default)
        q = q * self.scale
        attn = q @ k.transpose(-2, -1)
        attn = attn + self._get_rel_pos_bias()
        if mask is not None:
            num_win = mask.shape[0]
            attn = attn.view(-1, num_win, self.num_heads, N, N) + mask.unsqueeze(1).unsqueeze(0)
            attn = attn.view(-1, self.num_heads, N, N)
        attn = attn.softmax(dim=-1)
        x = attn @ v
        x = x.transpose(1, 2).reshape(B_, N, -1)
        return self.proj(x)


class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class SwinTransformerBlock(nn.Module):
    def __init__(self, dim, input_resolution, num_heads, window_size, shift_size, mlp_ratio):
        super().__init__()
        self.input_resolution = input_resolution
        target_window, target_shift = (window_size, window_size), (shift_size, shift_size)
        # _calc_window_shift (always_partition False)
        ws = [r if r <= w else w for r, w in zip(input_resolution, target_window)]
        ss = [0 if r <= w else s for r, w, s in zip(input_resolution, ws, target_shift)]
        self.window_size, self.shift_size = tuple(ws), tuple(ss)
        self.window_area = self.window_size[0] * self.window_size[1]
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, num_heads=num_heads, window_size=self.window_size)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.register_buffer("attn_mask", self.get_attn_mask(), persistent=False)

    def get_attn_mask(self):
        if any(self.shift_size):
            H, W = self.input_resolution
            H = math.ceil(H / self.window_size[0]) * self.window_size[0]
            W = math.ceil(W / self.window_size[1]) * self.window_size[1]
            img_mask = torch.zeros((1, H, W, 1))
            cnt = 0
            for h in ((0, -self.window_size[0]), (-self.window_size[0], -self.shift_size[0]), (-self.shift_size[0], None)):
                for w in ((0, -self.window_size[1]), (-self.window_size[1], -self.shift_size[1]), (-self.shift_size[1], None)):
                    img_mask[:, h[0]:h[1], w[0]:w[1], :] = cnt
                    cnt += 1
            mask_windows = timm_window_partition(img_mask, self.window_size)
            mask_windows = mask_windows.view(-1, self.window_area)
            attn_mask = mask_windows.unsqueeze(1) - mask_windows.unsqueeze(2)
            return attn_mask.masked_fill(attn_mask != 0, float(-100.0)).masked_fill(attn_mask == 0, float(0.0))
        return None

    def _attn(self, x):
        B, H, W, C = x.shape
        has_shift = any(self.shift_size)
        if has_shift:
            shifted_x = torch.roll(x, shifts=(-self.shift_size[0], -self.shift_size[1]), dims=(1, 2))
        else:
            shifted_x = x
        pad_h = (self.window_size[0] - H % self.window_size[0]) % self.window_size[0]
        pad_w = (self.window_size[1] - W % self.window_size[1]) % self.window_size[1]
        shifted_x = torch.nn.functional.pad(shifted_x, (0, 0, 0, pad_w, 0, pad_h))
        _, Hp, Wp, _ = shifted_x.shape
        x_windows = timm_window_partition(shifted_x, self.window_size).view(-1, self.window_area, C)
        attn_windows = self.attn(x_windows, mask=self.attn_mask)
        attn_windows = attn_windows.view(-1, self.window_size[0], self.window_size[1], C)
        shifted_x = timm_window_reverse(attn_windows, self.window_size, Hp, Wp)[:, :H, :W, :].contiguous()
        if has_shift:
            return torch.roll(shifted_x, shifts=self.shift_size, dims=(1, 2))
        return shifted_x

    def forward(self, x):
        B, H, W, C = x.shape
        x = x + self._attn(self.norm1(x))
        x = x.reshape(B, -1, C)
        x = x + self.mlp(self.norm2(x))
        return x.reshape(B, H, W, C)


class PatchMerging(nn.Module):
    def __init__(self, dim, out_dim):
        super().__init__()
        self.norm = nn.LayerNorm(4 * dim)
        self.reduction = nn.Linear(4 * dim, out_dim, bias=False)

    def forward(self, x):
        B, H, W, C = x.shape
        x = nn.functional.pad(x, (0, 0, 0, W % 2, 0, H % 2))
        _, H, W, _ = x.shape
        x = x.reshape(B, H // 2, 2, W // 2, 2, C).permute(0, 1, 3, 4, 2, 5).flatten(3)
        return self.reduction(self.norm(x))


class SwinTransformerStage(nn.Module):
    def __init__(self, dim, out_dim, input_resolution, depth, downsample, num_heads, window_size, mlp_ratio):
        super().__init__()
        self.output_resolution = tuple(i // 2 for i in input_resolution) if downsample else input_resolution
        shift_size = window_size // 2
        self.downsample = PatchMerging(dim, out_dim) if downsample else nn.Identity()
        self.blocks = nn.Sequential(*[
            SwinTransformerBlock(out_dim, self.output_resolution, num_heads, window_size,
                                 0 if (i % 2 == 0) else shift_size, mlp_ratio)
            for i in range(depth)])

    def forward(self, x):
        return self.blocks(self.downsample(x))


class PatchEmbed(nn.Module):
    def __init__(self, patch, embed):
        super().__init__()
        self.proj = nn.Conv2d(3, embed, kernel_size=patch, stride=patch)
        self.norm = nn.LayerNorm(embed)

    def forward(self, x):
        x = self.proj(x).permute(0, 2, 3, 1)  # output_fmt NHWC
        return self.norm(x)


class ClassifierHead(nn.Module):
    def __init__(self, in_features, num_classes):
        super().__init__()
        self.fc = nn.Linear(in_features, num_classes)

    def forward(self, x, pre_logits=False):
        x = x.mean((1, 2))  # SelectAdaptivePool2d('avg', flatten, input_fmt NHWC) -> FastAdaptiveAvgPool
        return x if pre_logits else self.fc(x)


class SwinTransformer(nn.Module):
    def __init__(self, c):
        super().__init__()
        n = len(c["depths"])
        self.num_features = int(c["embed"] * 2 ** (n - 1))
        embed_dim = [int(c["embed"] * 2 ** i) for i in range(n)]
        self.patch_embed = PatchEmbed(c["patch"], embed_dim[0])
        grid = (c["image"] // c["patch"], c["image"] // c["patch"])
        layers = []
        in_dim = embed_dim[0]
        scale = 1
        for i in range(n):
            out_dim = embed_dim[i]
            layers += [SwinTransformerStage(in_dim, out_dim, (grid[0] // scale, grid[1] // scale), c["depths"][i],
                                            i > 0, c["heads"][i], c["window"], c["mlp_ratio"])]
            in_dim = out_dim
            if i > 0:
                scale *= 2
        self.layers = nn.Sequential(*layers)
        self.norm = nn.LayerNorm(self.num_features)
        self.head = ClassifierHead(self.num_features, NUM_CLASSES)

    def forward(self, x):
        x = self.norm(self.layers(self.patch_embed(x)))  # forward_features, NHWC
        return x, self.head(x, pre_logits=True), self.head(x)


# ----------------------------------------------------------------------------------------------------------------
# transformers: DeiT (modeling_deit.py)
# ----------------------------------------------------------------------------------------------------------------

class DeiTPatchEmbeddings(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.projection = nn.Conv2d(3, c["hidden"], kernel_size=c["patch"], stride=c["patch"])

    def forward(self, pixel_values):
        return self.projection(pixel_values).flatten(2).transpose(1, 2)


class DeiTEmbeddings(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.cls_token = nn.Parameter(torch.zeros(1, 1, c["hidden"]))
        self.distillation_token = nn.Parameter(torch.zeros(1, 1, c["hidden"]))
        self.patch_embeddings = DeiTPatchEmbeddings(c)
        num_patches = (c["image"] // c["patch"]) ** 2
        self.position_embeddings = nn.Parameter(torch.zeros(1, num_patches + 2, c["hidden"]))

    def forward(self, pixel_values):
        embeddings = self.patch_embeddings(pixel_values)
        batch_size = embeddings.shape[0]
        cls_tokens = self.cls_token.expand(batch_size, -1, -1)
        distillation_tokens = self.distillation_token.expand(batch_size, -1, -1)
        embeddings = torch.cat((cls_tokens, distillation_tokens, embeddings), dim=1)
        return embeddings + self.position_embeddings


class DeiTSelfAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.num_attention_heads = c["heads"]
        self.attention_head_size = c["hidden"] // c["heads"]
        self.scaling = self.attention_head_size ** -0.5
        self.query = nn.Linear(c["hidden"], c["hidden"], bias=True)
        self.key = nn.Linear(c["hidden"], c["hidden"], bias=True)
        self.value = nn.Linear(c["hidden"], c["hidden"], bias=True)

    def forward(self, hidden_states):
        batch_size = hidden_states.shape[0]
        new_shape = batch_size, -1, self.num_attention_heads, self.attention_head_size
        key_layer = self.key(hidden_states).view(*new_shape).transpose(1, 2)
        value_layer = self.value(hidden_states).view(*new_shape).transpose(1, 2)
        query_layer = self.query(hidden_states).view(*new_shape).transpose(1, 2)
        # eager_attention_forward
        attn_weights = torch.matmul(query_layer, key_layer.transpose(-1, -2)) * self.scaling
        attn_weights = nn.functional.softmax(attn_weights, dim=-1, dtype=torch.float32).to(query_layer.dtype)
        attn_output = torch.matmul(attn_weights, value_layer).transpose(1, 2).contiguous()
        all_head_size = self.num_attention_heads * self.attention_head_size
        return attn_output.reshape(attn_output.size()[:-2] + (all_head_size,))


class DeiTSelfOutput(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c["hidden"], c["hidden"])

    def forward(self, hidden_states):
        return self.dense(hidden_states)


class DeiTAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.attention = DeiTSelfAttention(c)
        self.output = DeiTSelfOutput(c)

    def forward(self, hidden_states):
        return self.output(self.attention(hidden_states))


class DeiTIntermediate(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c["hidden"], c["intermediate"])

    def forward(self, hidden_states):
        return F.gelu(self.dense(hidden_states))


class DeiTOutput(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c["intermediate"], c["hidden"])

    def forward(self, hidden_states, input_tensor):
        return self.dense(hidden_states) + input_tensor


class DeiTLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.attention = DeiTAttention(c)
        self.intermediate = DeiTIntermediate(c)
        self.output = DeiTOutput(c)
        self.layernorm_before = nn.LayerNorm(c["hidden"], eps=c["layer_norm_eps"])
        self.layernorm_after = nn.LayerNorm(c["hidden"], eps=c["layer_norm_eps"])

    def forward(self, hidden_states):
        attention_output = self.attention(self.layernorm_before(hidden_states))
        hidden_states = attention_output + hidden_states
        layer_output = self.intermediate(self.layernorm_after(hidden_states))
        return self.output(layer_output, hidden_states)


class DeiTEncoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.layer = nn.ModuleList([DeiTLayer(c) for _ in range(c["layers"])])

    def forward(self, hidden_states):
        for layer_module in self.layer:
            hidden_states = layer_module(hidden_states)
        return hidden_states


class DeiTModel(nn.Module):
    def __init__(self, c):  # add_pooling_layer=False, as DeiTForImageClassificationWithTeacher builds it
        super().__init__()
        self.embeddings = DeiTEmbeddings(c)
        self.encoder = DeiTEncoder(c)
        self.layernorm = nn.LayerNorm(c["hidden"], eps=c["layer_norm_eps"])

    def forward(self, pixel_values):
        return self.layernorm(self.encoder(self.embeddings(pixel_values)))


class DeiTForImageClassificationWithTeacher(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.deit = DeiTModel(c)
        self.cls_classifier = nn.Linear(c["hidden"], NUM_CLASSES)
        self.distillation_classifier = nn.Linear(c["hidden"], NUM_CLASSES)

    def forward(self, pixel_values):
        sequence_output = self.deit(pixel_values)
        cls_logits = self.cls_classifier(sequence_output[:, 0, :])
        distillation_logits = self.distillation_classifier(sequence_output[:, 1, :])
        return sequence_output, (cls_logits + distillation_logits) / 2


# ----------------------------------------------------------------------------------------------------------------
# timm: VisionTransformerDistilled (deit.py over vision_transformer.py)
# ----------------------------------------------------------------------------------------------------------------

class TimmAttention(nn.Module):
    def __init__(self, dim, num_heads):
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = self.head_dim ** -0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=True)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        B, N, C = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        q = q * self.scale  # the non-fused path; the fused one is the same product in another order
        attn = (q @ k.transpose(-2, -1)).softmax(dim=-1)
        x = (attn @ v).transpose(1, 2).reshape(B, N, C)
        return self.proj(x)


class TimmBlock(nn.Module):
    def __init__(self, dim, num_heads, mlp_hidden):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = TimmAttention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, mlp_hidden)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class TimmPatchEmbed(nn.Module):
    def __init__(self, patch, dim):
        super().__init__()
        self.proj = nn.Conv2d(3, dim, kernel_size=patch, stride=patch)

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)


class VisionTransformerDistilled(nn.Module):
    def __init__(self, c):
        super().__init__()
        d = c["hidden"]
        self.patch_embed = TimmPatchEmbed(c["patch"], d)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d))
        self.dist_token = nn.Parameter(torch.zeros(1, 1, d))
        self.pos_embed = nn.Parameter(torch.zeros(1, (c["image"] // c["patch"]) ** 2 + 2, d))
        self.blocks = nn.Sequential(*[TimmBlock(d, c["heads"], c["intermediate"]) for _ in range(c["layers"])])
        self.norm = nn.LayerNorm(d, eps=1e-6)
        self.head = nn.Linear(d, NUM_CLASSES)
        self.head_dist = nn.Linear(d, NUM_CLASSES)

    def forward(self, x):
        x = self.patch_embed(x)
        # _pos_embed, not no_embed_class: concat then add
        x = torch.cat((self.cls_token.expand(x.shape[0], -1, -1), self.dist_token.expand(x.shape[0], -1, -1), x), dim=1)
        x = x + self.pos_embed
        x = self.norm(self.blocks(x))  # forward_features
        cls, dist = x[:, 0], x[:, 1]
        pre_logits = (cls + dist) / 2  # forward_head(pre_logits=True)
        logits = (self.head(cls) + self.head_dist(dist)) / 2  # eval: average of both heads
        return x, pre_logits, logits


# ----------------------------------------------------------------------------------------------------------------
# Preprocessing
# ----------------------------------------------------------------------------------------------------------------

def load_rgb(name):
    with Image.open(os.path.join(IMAGE_DIR, name)) as im:
        return im.convert("RGB")


def hf_slow_pixels(image, resize_hw, crop_hw, mean, std, resample=Image.BICUBIC):
    """transformers' numpy/PIL processors: PIL resize of the uint8 image, numpy center crop ((h - ch) // 2),
    rescale in float64 then float32, normalise in float32 (image_transforms.rescale / normalize)."""
    arr = np.array(image.resize((resize_hw[1], resize_hw[0]), resample=resample))
    if crop_hw is not None:
        h, w = arr.shape[:2]
        top, left = (h - crop_hw[0]) // 2, (w - crop_hw[1]) // 2
        assert top >= 0 and left >= 0
        arr = arr[top:top + crop_hw[0], left:left + crop_hw[1]]
    x = (arr.astype(np.float64) * (1 / 255)).astype(np.float32)
    x = (x - np.array(mean, dtype=np.float32)) / np.array(std, dtype=np.float32)
    return x.transpose(2, 0, 1)


def timm_pixels(image, pretrained_cfg):
    """timm's transforms_imagenet_eval for crop_mode 'center', built from torchvision itself."""
    size = pretrained_cfg["input_size"][1]
    scale = math.floor(size / pretrained_cfg["crop_pct"])
    tf = transforms.Compose([
        transforms.Resize(scale, interpolation=transforms.InterpolationMode.BICUBIC),
        transforms.CenterCrop(size),
        transforms.ToTensor(),
        transforms.Normalize(mean=torch.tensor(pretrained_cfg["mean"]), std=torch.tensor(pretrained_cfg["std"])),
    ])
    return tf(image).numpy()


# ----------------------------------------------------------------------------------------------------------------
# Checkpoints
# ----------------------------------------------------------------------------------------------------------------

def perturb(model, seed):
    """Every parameter random and distinct: LayerNorm scales near 1, biases and tables visibly non-zero."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 1 and ("norm" in name) and name.endswith("weight"):
                p.copy_(1 + 0.2 * torch.randn(p.shape, generator=g))
            elif p.dim() == 1:
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
            elif "relative_position_bias_table" in name:
                p.copy_(0.5 * torch.randn(p.shape, generator=g))
            elif name.endswith(("cls_token", "dist_token", "distillation_token")):
                p.copy_(torch.randn(p.shape, generator=g))
            elif "pos" in name:
                p.copy_(0.3 * torch.randn(p.shape, generator=g))
            else:
                fan_in = p[0].numel()
                p.copy_(torch.randn(p.shape, generator=g) / math.sqrt(fan_in))


DTYPES = {torch.float32: "F32", torch.int64: "I64"}


def save_safetensors(state, path):
    """The safetensors format (8-byte little-endian header length, JSON header, data), keys sorted as
    safetensors' own writer orders them by dtype alignment then name; here simply by name."""
    header, blobs, offset = {}, [], 0
    for name in sorted(state):
        t = state[name].contiguous()
        data = t.numpy().tobytes()
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    header["__metadata__"] = {"format": "pt"}
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * ((8 - len(raw) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for b in blobs:
            f.write(b)


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")


def write_f32(path, array):
    a = np.ascontiguousarray(np.asarray(array, dtype="<f4"))
    a.tofile(path)
    return list(a.shape)


def hf_swin_to_timm(sd, depths):
    """transformers' own timm-to-HF renaming (convert_swin_timm_to_pytorch.py), run backwards."""
    out = {}
    for k, v in sd.items():
        if k.endswith("relative_position_index"):
            continue
        k = k.replace("swin.", "", 1) if k.startswith("swin.") else k
        k = k.replace("classifier.", "head.fc.").replace("embeddings.patch_embeddings.projection", "patch_embed.proj")
        k = k.replace("embeddings.norm", "patch_embed.norm").replace("encoder.", "")
        k = k.replace("layernorm_before", "norm1").replace("layernorm_after", "norm2")
        k = k.replace("attention.output.dense", "attn.proj").replace("attention.self.", "attn.")
        k = k.replace("intermediate.dense", "mlp.fc1").replace("output.dense", "mlp.fc2")
        if k.startswith("layernorm."):
            k = "norm." + k[len("layernorm."):]
        if ".downsample." in k:  # end of stage i in transformers, start of stage i + 1 in timm
            i = int(k.split(".")[1])
            k = k.replace("layers.%d.downsample" % i, "layers.%d.downsample" % (i + 1))
        out[k] = v
    for i, depth in enumerate(depths):
        for j in range(depth):
            p = "layers.%d.blocks.%d.attn." % (i, j)
            for t in ("weight", "bias"):
                out[p + "qkv." + t] = torch.cat([out.pop(p + n + "." + t) for n in ("query", "key", "value")])
    return out


def cross_check(hf_swin, timm_swin, pixels):
    """The two Swin transcriptions, written independently from each library's source, agree on the same weights."""
    timm_swin.load_state_dict(hf_swin_to_timm(hf_swin.state_dict(), SWIN["depths"]), strict=True)
    seq, pooled, logits = hf_swin(pixels)
    feats, pre_logits, logits_t = timm_swin(pixels)
    diff = max((seq - feats.reshape(seq.shape)).abs().max().item(), (pooled - pre_logits).abs().max().item(),
               (logits - logits_t).abs().max().item())
    assert diff < 1e-5, "transformers and timm Swin transcriptions differ by %g" % diff
    return diff


def cross_check_deit(timm_deit, pixels):
    """Likewise for DeiT: transformers' layout (here with timm's LayerNorm eps 1e-6) on timm's weights."""
    hf = DeiTForImageClassificationWithTeacher(dict(DEIT, layer_norm_eps=1e-6)).eval()
    sd = {}
    for k, v in timm_deit.state_dict().items():
        k = k.replace("patch_embed.proj", "deit.embeddings.patch_embeddings.projection")
        k = k.replace("cls_token", "deit.embeddings.cls_token").replace("dist_token", "deit.embeddings.distillation_token")
        k = k.replace("pos_embed", "deit.embeddings.position_embeddings").replace("blocks.", "deit.encoder.layer.")
        k = k.replace("norm1", "layernorm_before").replace("norm2", "layernorm_after")
        k = k.replace("attn.proj", "attention.output.dense").replace("mlp.fc1", "intermediate.dense")
        k = k.replace("mlp.fc2", "output.dense").replace("head_dist", "distillation_classifier")
        k = k.replace("head.", "cls_classifier.")
        if k.startswith("norm."):
            k = "deit.layernorm." + k[len("norm."):]
        if ".attn.qkv." in k:
            for name, part in zip(("query", "key", "value"), v.chunk(3)):
                sd[k.replace("attn.qkv", "attention.attention." + name)] = part
            continue
        sd[k] = v
    hf.load_state_dict(sd, strict=True)
    seq, logits = hf(pixels)
    x, _, logits_t = timm_deit(pixels)
    diff = max((seq - x).abs().max().item(), (logits - logits_t).abs().max().item())
    assert diff < 1e-5, "transformers and timm DeiT transcriptions differ by %g" % diff
    return diff


def main():
    torch.set_grad_enabled(False)
    os.makedirs(OUT, exist_ok=True)
    images = [load_rgb(n) for n in IMAGES]
    manifest = {"torch": torch.__version__, "images": ["fixtures/hf-golden/images/" + n for n in IMAGES], "models": {}}

    def emit(name, model, config, pixels, outputs, extra_files=None):
        d = os.path.join(OUT, name)
        os.makedirs(d, exist_ok=True)
        save_safetensors(model.state_dict(), os.path.join(d, "model.safetensors"))
        write_json(os.path.join(d, "config.json"), config)
        for fname, obj in (extra_files or {}).items():
            write_json(os.path.join(d, fname), obj)
        entry = {"pixel_values": {"file": name + "/pixel_values.f32", "shape": write_f32(os.path.join(d, "pixel_values.f32"), pixels)},
                 "outputs": {}}
        for key, value in outputs.items():
            entry["outputs"][key] = {"file": name + "/" + key + ".f32", "shape": write_f32(os.path.join(d, key + ".f32"), value)}
        manifest["models"][name] = entry

    # --- transformers Swin ----------------------------------------------------------------------------------
    c = dict(SWIN, layer_norm_eps=1e-5)
    hf_swin = SwinForImageClassification(c).eval()
    perturb(hf_swin, 1)
    processor = {"do_normalize": True, "do_resize": True, "feature_extractor_type": "ViTFeatureExtractor",
                 "image_mean": IMAGENET_DEFAULT_MEAN, "image_std": IMAGENET_DEFAULT_STD, "resample": 3,
                 "size": SWIN["image"]}
    # ViTImageProcessor: a bare int size means height = width = size (get_size_dict default_to_square); no crop.
    pixels = np.stack([hf_slow_pixels(im, (SWIN["image"], SWIN["image"]), None, IMAGENET_DEFAULT_MEAN,
                                      IMAGENET_DEFAULT_STD) for im in images])
    seq, pooled, logits = hf_swin(torch.from_numpy(pixels))
    config = {"architectures": ["SwinForImageClassification"], "model_type": "swin", "attention_probs_dropout_prob": 0.0,
              "depths": SWIN["depths"], "drop_path_rate": 0.1, "embed_dim": SWIN["embed"], "encoder_stride": 32,
              "hidden_act": "gelu", "hidden_dropout_prob": 0.0, "hidden_size": int(SWIN["embed"] * 2 ** (len(SWIN["depths"]) - 1)),
              "id2label": {str(i): LABELS[i] for i in range(NUM_CLASSES)},
              "label2id": {LABELS[i]: i for i in range(NUM_CLASSES)},
              "image_size": SWIN["image"], "initializer_range": 0.02, "layer_norm_eps": 1e-5, "mlp_ratio": SWIN["mlp_ratio"],
              "num_channels": 3, "num_heads": SWIN["heads"], "num_layers": len(SWIN["depths"]), "patch_size": SWIN["patch"],
              "qkv_bias": True, "use_absolute_embeddings": False, "window_size": SWIN["window"]}
    emit("hf_swin", hf_swin, config, pixels,
         {"last_hidden_state": seq.numpy(), "pooler_output": pooled.numpy(), "logits": logits.numpy()},
         {"preprocessor_config.json": processor})

    # --- timm Swin --------------------------------------------------------------------------------------------
    timm_swin = SwinTransformer(SWIN).eval()
    manifest["swin_transcriptions_max_abs_diff"] = cross_check(hf_swin, timm_swin, torch.from_numpy(pixels))
    perturb(timm_swin, 2)
    cfg = {"input_size": [3, SWIN["image"], SWIN["image"]], "interpolation": "bicubic", "crop_pct": 0.9,
           "crop_mode": "center", "mean": IMAGENET_DEFAULT_MEAN, "std": IMAGENET_DEFAULT_STD, "num_classes": NUM_CLASSES,
           "pool_size": [7, 7], "first_conv": "patch_embed.proj", "classifier": "head.fc"}
    pixels = np.stack([timm_pixels(im, cfg) for im in images])
    feats, pre_logits, logits = timm_swin(torch.from_numpy(pixels))
    config = {"architecture": "swin_tiny_patch4_window7_224", "num_classes": NUM_CLASSES,
              "num_features": timm_swin.num_features, "global_pool": "avg", "label_names": LABELS,
              "model_args": {"img_size": SWIN["image"], "embed_dim": SWIN["embed"], "depths": SWIN["depths"],
                             "num_heads": SWIN["heads"], "window_size": SWIN["window"], "mlp_ratio": SWIN["mlp_ratio"]},
              "pretrained_cfg": cfg}
    emit("timm_swin", timm_swin, config, pixels,
         {"last_hidden_state": feats.reshape(feats.shape[0], -1, feats.shape[-1]).numpy(),
          "embedding": pre_logits.numpy(), "logits": logits.numpy()})

    # --- transformers DeiT (distilled, with teacher head) -----------------------------------------------------
    c = dict(DEIT, layer_norm_eps=1e-12)
    hf_deit = DeiTForImageClassificationWithTeacher(c).eval()
    perturb(hf_deit, 3)
    resize, crop = DEIT["image"] + 16, DEIT["image"]
    processor = {"crop_size": crop, "do_center_crop": True, "do_normalize": True, "do_resize": True,
                 "feature_extractor_type": "DeiTFeatureExtractor", "image_mean": IMAGENET_DEFAULT_MEAN,
                 "image_std": IMAGENET_DEFAULT_STD, "resample": 3, "size": resize}
    # DeiTImageProcessor: bare int sizes are squares (resize to resize x resize, not the shortest edge), then crop.
    pixels = np.stack([hf_slow_pixels(im, (resize, resize), (crop, crop), IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD)
                       for im in images])
    seq, logits = hf_deit(torch.from_numpy(pixels))
    config = {"architectures": ["DeiTForImageClassificationWithTeacher"], "model_type": "deit",
              "attention_probs_dropout_prob": 0.0, "encoder_stride": 16, "hidden_act": "gelu", "hidden_dropout_prob": 0.0,
              "hidden_size": DEIT["hidden"], "id2label": {str(i): LABELS[i] for i in range(NUM_CLASSES)},
              "label2id": {LABELS[i]: i for i in range(NUM_CLASSES)}, "image_size": DEIT["image"],
              "initializer_range": 0.02, "intermediate_size": DEIT["intermediate"], "layer_norm_eps": 1e-12,
              "num_attention_heads": DEIT["heads"], "num_channels": 3, "num_hidden_layers": DEIT["layers"],
              "patch_size": DEIT["patch"], "qkv_bias": True}
    emit("hf_deit", hf_deit, config, pixels,
         {"last_hidden_state": seq.numpy(), "embedding": ((seq[:, 0] + seq[:, 1]) / 2).numpy(), "logits": logits.numpy()},
         {"preprocessor_config.json": processor})

    # --- timm DeiT distilled ----------------------------------------------------------------------------------
    timm_deit = VisionTransformerDistilled(DEIT).eval()
    perturb(timm_deit, 4)
    cfg = {"input_size": [3, DEIT["image"], DEIT["image"]], "interpolation": "bicubic", "crop_pct": 0.875,
           "crop_mode": "center", "mean": IMAGENET_DEFAULT_MEAN, "std": IMAGENET_DEFAULT_STD, "num_classes": NUM_CLASSES,
           "first_conv": "patch_embed.proj", "classifier": ["head", "head_dist"]}
    pixels = np.stack([timm_pixels(im, cfg) for im in images])
    manifest["deit_transcriptions_max_abs_diff"] = cross_check_deit(timm_deit, torch.from_numpy(pixels))
    x, pre_logits, logits = timm_deit(torch.from_numpy(pixels))
    config = {"architecture": "deit_tiny_distilled_patch16_224", "num_classes": NUM_CLASSES, "num_features": DEIT["hidden"],
              "global_pool": "token", "label_names": LABELS,
              "model_args": {"img_size": DEIT["image"], "embed_dim": DEIT["hidden"], "depth": DEIT["layers"],
                             "num_heads": DEIT["heads"], "mlp_ratio": DEIT["intermediate"] / DEIT["hidden"]},
              "pretrained_cfg": cfg}
    emit("timm_deit", timm_deit, config, pixels,
         {"last_hidden_state": x.numpy(), "embedding": pre_logits.numpy(), "logits": logits.numpy()})

    write_json(os.path.join(OUT, "manifest.json"), manifest)
    print("wrote", OUT)


if __name__ == "__main__":
    sys.exit(main())
