"""Training-time augmentation: what every training image goes through on its way to the network (as opposed to
rpsdet.failure_loop, which writes an augmented training-set version to disk once)."""

from __future__ import annotations

from rpsdet.model.preprocess import A, letterbox, normalize

MOSAIC_KEY = "mosaic_metadata"
MOSAIC_PARTNERS = 3  # a 2x2 mosaic: the image and three others


def train_transform(image_size: int, scale_jitter: float, color_jitter: float, mosaic: float = 0.0) -> A.Compose:
    """Mosaic, flip, scale jitter and colour, then the same letterbox + normalise that inference uses.

    With probability `mosaic` the image is first tiled 2x2 with three other training images (DetectionDataset
    passes them under MOSAIC_KEY), each at half the letterbox scale: one-hand images become scenes of several
    smaller hands, the kind the train source rarely has. mosaic=0 leaves the transform exactly as it was.
    """
    half = image_size // 2
    tile = (
        [
            A.Mosaic(
                grid_yx=(2, 2),
                target_size=(image_size, image_size),
                cell_shape=(half, half),
                fit_mode="contain",
                metadata_key=MOSAIC_KEY,
                p=mosaic,
            )
        ]
        if mosaic
        else []
    )
    augment = [
        *tile,
        A.HorizontalFlip(p=0.5),
        A.Affine(
            scale=(1 - scale_jitter, 1 + scale_jitter), translate_percent=(-0.1, 0.1), p=0.7 if scale_jitter else 0.0
        ),
        A.ColorJitter(
            brightness=color_jitter,
            contrast=color_jitter,
            saturation=color_jitter,
            hue=0.03,
            p=0.8 if color_jitter else 0.0,
        ),
    ]
    return A.Compose(
        [*augment, *letterbox(image_size), normalize()],
        bbox_params=A.BboxParams(format="pascal_voc", label_fields=["labels"], min_visibility=0.3),
    )
