"""Everything that speaks to LoadGen: user.conf, scenarios, the SUT/QSL callbacks, the test run."""
