"""The evaluation's data: the data set and validation split read from zoo cards."""

import pytest

from vdualib import zoo


def test_evaluation_takes_the_data_set_from_the_card(tmp_path):
    from vdualib import evaluation

    cards = [zoo.card("mnist-dualib-mlp"), zoo.card("mnist-vib-mlp")]
    assert evaluation.zoo_dataset(cards) == "mnist"
    with pytest.raises(ValueError, match="pass --dataset"):
        evaluation.zoo_dataset([cards[0], None])  # a model given as a file has no card
    with pytest.raises(ValueError, match="different data sets"):
        evaluation.zoo_dataset([cards[0], zoo.card("cifar10-vib-resnet20")])
    with pytest.raises(ValueError, match="takes the cards that vdualib.zoo.describe returns"):
        evaluation.zoo_dataset(["mnist-dualib-mlp"])
    assert evaluation.zoo_validation([cards[0], None], "mnist") is None
    assert evaluation.zoo_validation(cards, "fashion_mnist") is None  # evaluated off the training data set
