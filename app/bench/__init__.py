"""`convscope bench`: speed side by side with baselines (engine, HTTP, browser, load, explain)."""
