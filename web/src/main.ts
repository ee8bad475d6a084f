/** Entry point of the execstream dashboard bundle. */

import { Dashboard } from "./app";

const root = document.getElementById("app");
if (root) new Dashboard(root).start();
