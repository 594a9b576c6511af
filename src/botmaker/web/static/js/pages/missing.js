// Pages without their own script.
import "../lib/common.js";
