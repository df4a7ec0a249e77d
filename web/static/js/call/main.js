// Entry point of the call page (web/templates/call.html): starts the room controller.

import { CallRoom } from "./room.js";

const root = document.getElementById("call");
if (root) new CallRoom(root).start();
