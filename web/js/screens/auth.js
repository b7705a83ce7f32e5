// Register and sign in.
import { login, register } from "../api.js";
import { h, retryText } from "../dom.js";
import { buildForm } from "../form.js";

function explain(error) {
  if (error.status === 429) {
    const when = error.retryAfterS ? retryText(error.retryAfterS) : "later";
    error.message = `Too many attempts. You can try again ${when}.`;
  }
  return error;
}

export function signIn(main, { navigate, notice }) {
  const { form } = buildForm({
    title: "Sign in",
    intro: notice,
    submit: "Sign in",
    fields: [
      { name: "email", label: "Email", type: "email", autocomplete: "username", required: true },
      { name: "password", label: "Password", type: "password", autocomplete: "current-password", required: true },
    ],
    async onSubmit({ email, password }) {
      try {
        await login(email.trim(), password);
      } catch (error) {
        throw explain(error);
      }
      navigate("/");
    },
  });
  main.append(h("div", { class: "card narrow" }, form,
    h("p", {}, "New to Pacer? ", h("a", { href: "/register" }, "Create an account"))));
}

export function registerScreen(main, { navigate }) {
  const { form } = buildForm({
    title: "Create your account",
    submit: "Create account",
    fields: [
      { name: "name", label: "Name", autocomplete: "name", required: true },
      { name: "email", label: "Email", type: "email", autocomplete: "username", required: true },
      { name: "password", label: "Password", type: "password", autocomplete: "new-password", hint: "At least 10 characters.", required: true },
    ],
    async onSubmit({ name, email, password }) {
      try {
        await register(name, email.trim(), password);
      } catch (error) {
        if (error.code === "email_taken") error.details = [{ field: "email", message: error.message }];
        throw explain(error);
      }
      navigate("/");
    },
  });
  main.append(h("div", { class: "card narrow" }, form,
    h("p", {}, "Already have an account? ", h("a", { href: "/signin" }, "Sign in"))));
}
