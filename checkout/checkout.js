/* checkout.js: the embeddable SDK (being built). */
