// The login page: only the shared theme toggle (the form posts without JavaScript).
import "../lib/common.js";
