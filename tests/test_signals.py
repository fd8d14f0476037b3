import os
import signal

import pytest

from bachata_sep.signals import TERMINATION_SIGNALS, Terminated, terminations_raise


@pytest.mark.parametrize("number", TERMINATION_SIGNALS)
def test_a_termination_signal_raises_and_the_handlers_are_put_back(number):
    before = signal.getsignal(number)
    with pytest.raises(Terminated) as error, terminations_raise():
        os.kill(os.getpid(), number)
    assert error.value.signal_number == number
    assert signal.getsignal(number) is before
