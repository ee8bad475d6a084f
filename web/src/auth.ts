/** The token prompt: shown when the server has auth on and the page has no valid token. */

import { el } from "./dom";
import { tokens } from "./rpc";

export class TokenPrompt {
  readonly root: HTMLDialogElement;
  private readonly input: HTMLInputElement;
  private readonly message: HTMLElement;

  constructor(onToken: () => void) {
    this.input = el("input", {
      id: "token-input",
      type: "password",
      autocomplete: "off",
      placeholder: "es_…",
      "aria-label": "bearer token",
      required: "",
    });
    this.message = el("p", { class: "auth-message" });
    const form = el(
      "form",
      { method: "dialog" },
      el("h2", {}, "Token needed"),
      this.message,
      el(
        "p",
        { class: "hint" },
        "Paste a viewer or admin token (execstream token create --role viewer). It is kept for this tab only.",
      ),
      this.input,
      el("div", { class: "buttons" }, el("button", { type: "submit", id: "token-submit" }, "Connect")),
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      tokens.set(this.input.value.trim());
      this.input.value = "";
      this.root.close();
      onToken();
    });
    this.root = el("dialog", { id: "auth", class: "auth" }, form);
  }

  /** Ask for a token; `reason` is the server's word on the last attempt. */
  ask(reason: string): void {
    const had = tokens.get() !== "";
    this.message.textContent = had
      ? `The server refused the token: ${reason}`
      : "This server requires a bearer token.";
    this.message.classList.toggle("refused", had);
    if (!this.root.open) this.root.showModal();
    this.input.focus();
  }
}
