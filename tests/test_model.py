import torch

from rnnexport.model.cell import CharRNN, ModelConfig, predict_one_by_one
from rnnexport.text.alphabet import ALPHABET
from rnnexport.text.encode import encode_names
from tests.helpers import assert_parity, float64_log_probs


def one_hot_name(name: str) -> torch.Tensor:
    """The seed's lineToTensor: (L, 1, 57)."""
    tensor = torch.zeros(len(name), 1, len(ALPHABET))
    for t, letter in enumerate(name):
        tensor[t, 0, ALPHABET.index(letter)] = 1.0
    return tensor


def test_batched_forward_equals_the_seed_loop_name_by_name():
    torch.manual_seed(0)
    model = CharRNN(ModelConfig()).eval()
    names = ["A", "Dvorak", "O'Neill", "Yue Tingsong", "Abcdefghijklmnopqrstuvwxyzabcdefghijklmn", "Li"]
    encoded = encode_names(names)
    with torch.no_grad():
        batched = model(torch.from_numpy(encoded.indices), torch.from_numpy(encoded.lengths))
        one_by_one = predict_one_by_one(model, [one_hot_name(name) for name in names])
    assert batched.shape == (len(names), 18)
    reference = float64_log_probs(model, encoded.indices, encoded.lengths)
    assert_parity(reference, one_by_one.numpy(), names, "the seed's loop")
    assert_parity(reference, batched.numpy(), names, "the batched forward")


def test_parameter_names_are_the_contract():
    names = [name for name, _ in CharRNN(ModelConfig()).named_parameters()]
    assert names == ["u.weight", "u.bias", "w.weight", "w.bias", "v.weight", "v.bias"]


def test_output_is_log_probabilities():
    model = CharRNN(ModelConfig()).eval()
    encoded = encode_names(["Smith", "Li"])
    with torch.no_grad():
        log_probs = model(torch.from_numpy(encoded.indices), torch.from_numpy(encoded.lengths))
    torch.testing.assert_close(log_probs.exp().sum(dim=1), torch.ones(2))
